"""The holder's view of the journal as FHIR AuditEvent: who accessed the record, by name and
profession, what, when; never without a patient; nobody but the holder and the legal
representatives (everyone else: 404, journaled)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.journal.service import entries_of, iso
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.record import service as records
from opendmp.record.service import RepresentativeIn
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.conftest import bearer
from tests.fhir.test_patient_api import outcome

DOCTOR_RPPS = "10000000002"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def a_followed_record(runtime: Runtime, clock: FrozenClock, lookups: int = 2) -> tuple[Ins, Any, Actor]:
    """A record opened at a counter, then looked up by Dr Paul Durand (médecin) a few times."""
    f.add_professional(runtime, DOCTOR_RPPS, "10", family="Durand", given="Paul")
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent-7", "750000001"), ins, traits).record.id
    doctor = Actor.professional(DOCTOR_RPPS, "10").at("192.0.2.44")
    for _ in range(lookups):
        clock.advance(timedelta(hours=1))
        with unit_of_work(runtime.sessions) as session:
            records.get_record(session, doctor, record_id, clock.now())
    return ins, record_id, doctor


def searchset(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    Bundle.model_validate(body)  # every AuditEvent inside is validated as R4 too
    assert body["type"] == "searchset"
    return body


def events(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in body.get("entry", [])]


def test_audit_event_search_requires_a_patient(client: TestClient[Any], runtime: Runtime) -> None:
    ins, _ = f.person()
    holder = bearer(runtime, Actor.patient(ins))
    body = outcome(client.get("/fhir/AuditEvent?date=ge2026-01-01", headers=holder), 400, "invalid")
    assert body["issue"][0]["expression"] == ["patient"]
    outcome(client.post("/fhir/AuditEvent/_search", content="date=ge2026-01-01", headers={**holder, **FORM}), 400)


def test_holder_lists_who_accessed_the_record(client: TestClient[Any], runtime: Runtime, clock: FrozenClock) -> None:
    ins, record_id, _ = a_followed_record(runtime, clock)
    body = searchset(
        client.get(f"/fhir/AuditEvent?patient=Patient/{record_id}", headers=bearer(runtime, Actor.patient(ins)))
    )
    found = events(body)
    assert body["total"] == len(found) >= 3
    newest = found[0]
    assert newest["subtype"][0]["code"] == "record:lookup" and newest["action"] == "R" and newest["outcome"] == "0"
    agent = newest["agent"][0]
    assert agent["who"]["display"] == "Paul DURAND (Médecin)"
    assert agent["who"]["identifier"] == {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "8" + DOCTOR_RPPS}
    assert agent["network"] == {"address": "192.0.2.44", "type": "2"}
    assert {"system": "urn:oid:1.2.250.1.71.1.2.7", "code": "10", "display": "Médecin"} in [
        c for role in agent["role"] for c in role["coding"]
    ]
    assert newest["entity"][0]["what"] == {"reference": f"Patient/{record_id}"}
    assert newest["type"]["code"] == "rest"
    recorded = [e["recorded"] for e in found]
    assert recorded == sorted(recorded, reverse=True)  # newest first by default
    oldest = found[-1]
    assert oldest["subtype"][0]["code"] == "record:open" and oldest["action"] == "C"
    assert oldest["agent"][0]["who"]["display"] == "Agent d'accueil de l'Assurance Maladie"


def test_the_holders_search_is_itself_journaled_with_its_purpose(
    client: TestClient[Any], runtime: Runtime, clock: FrozenClock
) -> None:
    ins, record_id, _ = a_followed_record(runtime, clock, lookups=1)
    holder = bearer(runtime, Actor.patient(ins))
    first = searchset(client.get(f"/fhir/AuditEvent?patient={record_id}", headers=holder))
    with runtime.sessions() as session:
        last = entries_of(session, record_id)[-1]
    assert (last.action, last.actor_id, last.purpose) == ("journal:read", ins.value, "patient-access")
    assert last.reason == f"returned={first['total']};total={first['total']}"
    again = events(searchset(client.get(f"/fhir/AuditEvent?patient={record_id}", headers=holder)))
    own = again[0]
    assert own["subtype"][0]["code"] == "journal:read"
    assert own["agent"][0]["who"]["display"] == "Vous (titulaire du dossier)"
    assert own["agent"][0]["purposeOfUse"][0]["coding"][0]["code"] == "PATRQT"


def test_professional_cannot_read_the_journal(client: TestClient[Any], runtime: Runtime, clock: FrozenClock) -> None:
    _, record_id, doctor = a_followed_record(runtime, clock, lookups=1)
    outcome(client.get(f"/fhir/AuditEvent?patient={record_id}", headers=bearer(runtime, doctor)), 404, "not-found")
    with runtime.sessions() as session:
        last = entries_of(session, record_id)[-1]
    assert (last.action, last.outcome, last.actor_id) == ("journal:read", "denied", DOCTOR_RPPS)


def test_another_person_and_anonymous_callers_get_nothing(
    client: TestClient[Any], runtime: Runtime, clock: FrozenClock
) -> None:
    _, record_id, _ = a_followed_record(runtime, clock, lookups=1)
    stranger, _ = f.person()
    url = f"/fhir/AuditEvent?patient={record_id}"
    outcome(client.get(url, headers=bearer(runtime, Actor.patient(stranger))), 404, "not-found")
    outcome(client.get(url), 401, "login")
    unknown = "Patient/5b3f1c2e-8d5e-4b8a-9f3a-2c1d0e9f8a7b"
    outcome(client.get(f"/fhir/AuditEvent?patient={unknown}", headers=bearer(runtime, Actor.patient(stranger))), 404)
    for operator in (Actor.operator("alice"), Actor.counter_agent("agent-7"), Actor.insurer_feed()):
        outcome(client.get(url, headers=bearer(runtime, operator)), 404)


def test_a_legal_representative_reads_the_journal_of_the_minors_record(
    client: TestClient[Any], runtime: Runtime
) -> None:
    parent, _ = f.person(family="BLANC", given="ANNE", order=901)
    ins, traits = f.minor(runtime.clock.now().date(), family="BLANC", given="LEO")
    view = f.open_record(
        runtime,
        Actor.counter_agent("agent-7", "750000001"),
        ins,
        traits,
        representatives=(RepresentativeIn(parent, "BLANC", "ANNE"),),
    )
    body = searchset(
        client.get(f"/fhir/AuditEvent?patient={view.record.id}", headers=bearer(runtime, Actor.patient(parent)))
    )
    assert body["total"] >= 1


def test_search_by_the_holders_ins_in_a_form_body(
    client: TestClient[Any], runtime: Runtime, clock: FrozenClock
) -> None:
    ins, record_id, _ = a_followed_record(runtime, clock, lookups=1)
    response = client.post(
        "/fhir/AuditEvent/_search",
        content=f"patient.identifier={ins.system.uri}|{ins.value}&_count=1",
        headers={**bearer(runtime, Actor.patient(ins)), **FORM},
    )
    body = searchset(response)
    assert len(events(body)) == 1
    for link in body["link"]:  # links name the record by id, never by INS
        assert ins.value not in link["url"] and f"patient={record_id}" in link["url"]


def test_pages_follow_next_links_to_the_whole_journal(
    client: TestClient[Any], runtime: Runtime, clock: FrozenClock
) -> None:
    ins, record_id, _ = a_followed_record(runtime, clock, lookups=4)
    holder = bearer(runtime, Actor.patient(ins))
    url: str | None = f"/fhir/AuditEvent?patient={record_id}&_count=2"
    seen: list[str] = []
    total = None
    while url:
        body = searchset(client.get(url, headers=holder))
        total = body["total"] if total is None else total
        seen += [e["id"] for e in events(body)]
        after = [link["url"] for link in body["link"] if link["relation"] == "next"]
        url = urlsplit(after[0])._replace(scheme="", netloc="").geturl() if after else None
    assert total is not None and len(seen) == len(set(seen)) == total  # each search adds an entry, after the count


def test_agent_filter_keeps_one_professionals_entries(
    client: TestClient[Any], runtime: Runtime, clock: FrozenClock
) -> None:
    ins, record_id, _ = a_followed_record(runtime, clock, lookups=2)
    holder = bearer(runtime, Actor.patient(ins))
    for agent in (DOCTOR_RPPS, f"urn:oid:1.2.250.1.71.4.2.1|8{DOCTOR_RPPS}"):
        found = events(searchset(client.get(f"/fhir/AuditEvent?patient={record_id}&agent={agent}", headers=holder)))
        assert len(found) == 2
        assert {e["agent"][0]["who"]["identifier"]["value"] for e in found} == {"8" + DOCTOR_RPPS}
    outcome(client.get(f"/fhir/AuditEvent?patient={record_id}&agent=123", headers=holder), 400, "invalid")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    low=st.one_of(st.none(), st.integers(min_value=0, max_value=6)),
    high=st.one_of(st.none(), st.integers(min_value=0, max_value=6)),
    prefixes=st.tuples(st.sampled_from(["ge", "gt"]), st.sampled_from(["le", "lt"])),
)
def test_date_ranges_return_exactly_the_entries_inside_them(
    client: TestClient[Any], runtime: Runtime, low: int | None, high: int | None, prefixes: tuple[str, str]
) -> None:
    """Entries one hour apart; date bounds as date-times with ge/gt/le/lt select exactly those in range."""
    clock = FrozenClock(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    runtime.clock = clock
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent-7"), ins, traits).record.id
    for _ in range(5):
        clock.advance(timedelta(hours=1))
        with unit_of_work(runtime.sessions) as session:
            records.get_record(session, Actor.professional(DOCTOR_RPPS, "10"), record_id, clock.now())
    with runtime.sessions() as session:
        moments = [e.at for e in entries_of(session, record_id)]
    start = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    params = [("patient", str(record_id)), ("_count", "100")]
    if low is not None:
        params.append(("date", f"{prefixes[0]}{iso(start + timedelta(hours=low))}"))
    if high is not None:
        params.append(("date", f"{prefixes[1]}{iso(start + timedelta(hours=high))}"))

    def inside(at: datetime) -> bool:
        ok = True
        if low is not None:
            bound = start + timedelta(hours=low)
            ok &= at >= bound if prefixes[0] == "ge" else at > bound
        if high is not None:
            bound = start + timedelta(hours=high)
            ok &= at <= bound if prefixes[1] == "le" else at < bound
        return ok

    query = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in params)
    body = searchset(client.get(f"/fhir/AuditEvent?{query}", headers=bearer(runtime, Actor.patient(ins))))
    expected = sorted((iso(at) for at in moments if inside(at)), reverse=True)
    assert [e["recorded"] for e in events(body)] == expected
    assert body["total"] == len(expected)


def test_bad_search_parameters_are_400s(client: TestClient[Any], runtime: Runtime, clock: FrozenClock) -> None:
    ins, record_id, _ = a_followed_record(runtime, clock, lookups=0)
    holder = bearer(runtime, Actor.patient(ins))
    for query in ("_count=0", "_count=101", "_sort=agent", "date=yesterday", "unknown=1", "_page=nope", "action=R"):
        outcome(client.get(f"/fhir/AuditEvent?patient={record_id}&{query}", headers=holder), 400, "invalid")


def test_the_capability_statement_lists_audit_event(client: TestClient[Any]) -> None:
    body = client.get("/fhir/metadata").json()
    CapabilityStatement.model_validate(body)
    served = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert "AuditEvent" in served
    assert {p["name"] for p in served["AuditEvent"]["searchParam"]} >= {"patient", "date", "agent", "_count"}
