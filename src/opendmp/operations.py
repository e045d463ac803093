"""What the people running the service watch: readiness (database reachable and migrated to
head, key store readable) and the service gauges of /metrics (documents stored, journal lag,
outbox backlog). No health data: counts and ages only.

/metrics needs no token but answers only the source addresses of OPENDMP_METRICS_ALLOW (CIDRs)."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from opendmp.runtime import Runtime


@functools.cache
def head_revision() -> str:
    """The newest migration shipped with this code."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from opendmp.migrate import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise RuntimeError("no migration head")
    return head


@dataclass(frozen=True, slots=True)
class Readiness:
    database: str  # "ok" or why not
    migrations: str
    keystore: str

    @property
    def ready(self) -> bool:
        return self.database == self.migrations == self.keystore == "ok"

    def as_json(self) -> dict[str, str]:
        return {
            "status": "ready" if self.ready else "not-ready",
            "database": self.database,
            "migrations": self.migrations,
            "keystore": self.keystore,
        }


def readiness(runtime: Runtime) -> Readiness:
    """Each check says "ok" or a short reason; the reasons name no secret and no data."""
    database = migrations = "ok"
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            try:
                current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception:
                current = None
            if current != head_revision():
                migrations = f"at {current or 'none'}, head is {head_revision()}: run `opendmp db upgrade`"
    except Exception as error:
        database, migrations = f"unreachable ({type(error).__name__})", "unknown"
    try:
        runtime.vault.keys.ping()
        keystore = "ok"
    except Exception as error:
        keystore = f"unreadable ({type(error).__name__})"
    return Readiness(database, migrations, keystore)


class AddressFilter:
    """Source addresses allowed to scrape /metrics: CIDRs, or "*" for any (behind a proxy that
    filters already, or in tests where the client is in-process)."""

    def __init__(self, allowed: str) -> None:
        parts = [part.strip() for part in allowed.split(",") if part.strip()]
        self.anyone = "*" in parts
        self.networks = [ipaddress.ip_network(part, strict=False) for part in parts if part != "*"]

    def allows(self, address: str | None) -> bool:
        if self.anyone:
            return True
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False  # "testclient" and other names are not addresses
        return any(ip in network for network in self.networks)


class ServiceGauges(Collector):
    """Read at each scrape from the maintained counters and two small queries: documents stored
    (the statistics counters, not a count of the document table), seconds since the last signed
    journal checkpoint, messages waiting in the outbox."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        from opendmp.journal.models import JournalCheckpoint
        from opendmp.notify.models import OutboxMessage, OutboxStatus
        from opendmp.stats.models import DocumentTypeCount

        documents = GaugeMetricFamily("opendmp_documents_stored", "Documents stored (each version), from the counters")
        lag = GaugeMetricFamily(
            "opendmp_journal_lag_seconds", "Seconds since the last signed journal checkpoint (-1: none yet)"
        )
        backlog = GaugeMetricFamily("opendmp_outbox_backlog", "Notifications waiting to be sent", labels=["status"])
        try:
            with self.runtime.sessions() as session:
                stored = session.execute(select(func.coalesce(func.sum(DocumentTypeCount.count), 0))).scalar_one()
                last: datetime | None = session.execute(select(func.max(JournalCheckpoint.at))).scalar()
                waiting = dict(
                    session.execute(
                        select(OutboxMessage.status, func.count())
                        .where(OutboxMessage.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]))
                        .group_by(OutboxMessage.status)
                    ).all()
                )
        except Exception:
            return  # the database is down: /readyz says so; the scrape still answers
        documents.add_metric([], float(stored))
        now = self.runtime.clock.now()
        lag.add_metric([], (now - last).total_seconds() if last is not None else -1.0)
        for status in (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value):
            backlog.add_metric([status], float(waiting.get(status, 0)))
        yield documents
        yield lag
        yield backlog
