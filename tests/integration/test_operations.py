"""Operations: /readyz says whether the service may take traffic (database reachable and at the
migration head, key store readable); /metrics answers only listed addresses, labels latencies by
route template, and exports documents stored, journal lag and outbox backlog without health data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import TestClient

from opendmp import operations
from opendmp.app import create_app
from opendmp.identity.actor import Actor
from opendmp.journal.checkpoint import take_checkpoint
from opendmp.kit.clock import FrozenClock
from opendmp.operations import AddressFilter, head_revision
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.conftest import bearer
from tests.integration.test_stats import _submit


def _scraper(runtime: Runtime) -> TestClient[Any]:
    runtime.settings = runtime.settings.model_copy(update={"metrics_allow": "*"})
    return TestClient(app=create_app(runtime=runtime), base_url="http://testserver.local")


def test_readyz_is_ready_at_the_head_and_says_why_not_otherwise(runtime: Runtime, monkeypatch: Any) -> None:
    with TestClient(app=create_app(runtime=runtime)) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 200
        assert answer.json() == {"status": "ready", "database": "ok", "migrations": "ok", "keystore": "ok"}
        # Code newer than the database (the application role cannot move alembic_version itself).
        monkeypatch.setattr(operations, "head_revision", lambda: "9999")
        behind = client.get("/readyz")
        assert behind.status_code == 503 and behind.json()["status"] == "not-ready"
        assert behind.json()["migrations"] == f"at {head_revision()}, head is 9999: run `opendmp db upgrade`"
        monkeypatch.undo()

        def unreadable() -> None:
            raise OSError("key store volume missing")

        monkeypatch.setattr(runtime.vault.keys, "ping", unreadable)
        broken = client.get("/readyz")
        assert broken.status_code == 503 and broken.json()["keystore"] == "unreadable (OSError)"
        assert "volume" not in broken.text  # the reason names no path or secret


def test_metrics_are_refused_to_unlisted_addresses() -> None:
    allowed = AddressFilter("127.0.0.1/32,10.0.0.0/8")
    assert allowed.allows("127.0.0.1") and allowed.allows("10.20.30.40")
    assert not allowed.allows("192.168.1.5") and not allowed.allows("testclient") and not allowed.allows(None)
    assert AddressFilter("*").allows("testclient")


def test_metrics_show_documents_journal_lag_outbox_and_route_templates_without_identifiers(
    runtime: Runtime, clock: FrozenClock
) -> None:
    doctor = f.add_professional(runtime, "10000000002", "10")
    view = f.open_record(runtime, Actor.counter_agent("agent-1"), *f.person(order=1))
    _submit(runtime, doctor, view.record.id)
    take_checkpoint(runtime.sessions, runtime.keys.journal_signing_key, clock.now())
    clock.advance(timedelta(seconds=90))
    with _scraper(runtime) as client:
        client.get(f"/fhir/Patient/{view.record.id}", headers=bearer(runtime, doctor))
        text_ = client.get("/metrics").text
    assert "opendmp_documents_stored 1.0" in text_
    assert "opendmp_journal_lag_seconds 90.0" in text_
    assert 'opendmp_outbox_backlog{status="pending"}' in text_
    assert 'route="/fhir/Patient/{patient_id:str}"' in text_ or 'route="/fhir/Patient/{patient_id}"' in text_
    assert str(view.record.id) not in text_ and "opendmp_http_request_seconds_bucket" in text_
