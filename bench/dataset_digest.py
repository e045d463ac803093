"""A digest of the seeded dataset, per table, to prove an optimisation of the seeder writes the same rows.

Columns filled by `new_id()` (random UUID v4 by design), the remuneration rule id (random per
database) and the system chain (stamped with the wall clock) are left out; everything else is
read back through SQLAlchemy, so SQLite and PostgreSQL give the same digests for the same seed.

    .venv/bin/python bench/dataset_digest.py [--raw] sqlite:////tmp/x/opendmp.sqlite3

With --raw the values are compared as the database stores them (SQLite text formats included).
"""

from __future__ import annotations

import hashlib
import sys

from sqlalchemy import create_engine, select

from opendmp.consent.models import Authorisation
from opendmp.identity.models import InsLookup, Organisation, Patient, Professional, ProfessionalActivity, TraitsLookup
from opendmp.journal.models import SYSTEM_CHAIN, JournalEntry, JournalHead
from opendmp.kit.base import Base
from opendmp.record.models import LegalRepresentative, Record
from opendmp.stats.models import RemunerationEntry

RANDOM_COLUMNS = {
    "legal_representative": {"id"},
    "authorisation": {"id"},
    "remuneration_entry": {"id", "rule_id"},
    "journal_entry": {"id"},
}
TABLES: list[type[Base]] = [
    Organisation,
    Professional,
    ProfessionalActivity,
    Record,
    Patient,
    InsLookup,
    TraitsLookup,
    LegalRepresentative,
    Authorisation,
    RemunerationEntry,
    JournalEntry,
    JournalHead,
]


def digests(url: str, *, raw: bool = False) -> dict[str, tuple[int, str]]:
    engine = create_engine(url)
    result: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for model in TABLES:
            table = model.__table__  # type: ignore[attr-defined]
            skip = RANDOM_COLUMNS.get(table.name, set())
            columns = [c for c in table.columns if c.name not in skip]
            if raw:  # the values as stored, without SQLAlchemy's result processing
                where = f" WHERE chain != '{SYSTEM_CHAIN}'" if "chain" in table.columns else ""
                names = ", ".join(c.name for c in columns)
                rows = conn.exec_driver_sql(f"SELECT {names} FROM {table.name}{where}")
            else:
                stmt = select(*columns)
                if "chain" in table.columns:
                    stmt = stmt.where(table.c.chain != SYSTEM_CHAIN)
                rows = conn.execute(stmt)
            lines = sorted(repr(tuple(row)) for row in rows)
            digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
            result[table.name] = (len(lines), digest)
    engine.dispose()
    return result


def main() -> None:
    raw = "--raw" in sys.argv
    url = next(a for a in sys.argv[1:] if not a.startswith("--"))
    for name, (count, digest) in digests(url, raw=raw).items():
        print(f"{name:24} {count:>9} {digest}")


if __name__ == "__main__":
    main()
