"""Backups are encrypted and hold no key; a restore puts the database and the key store back,
replays the deletion ledger (a record purged and shredded after the backup stays deleted), and the
drill then checks every document's hash and the whole journal. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from opendmp import backup
from opendmp.config import Settings
from opendmp.document.keystore import default_keystore_url
from opendmp.document.models import Document
from opendmp.identity.actor import Actor
from opendmp.identity.models import Patient
from opendmp.jobs import JobContext, shred
from opendmp.journal.checkpoint import take_checkpoint
from opendmp.kit.db import unit_of_work
from opendmp.record import service as records
from opendmp.record.models import Record
from opendmp.runtime import Runtime, build_runtime
from tests import factories as f
from tests.integration.test_stats import _submit

KEY = os.urandom(32)


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OPENDMP_BACKUP_KEY", base64.b64encode(KEY).decode())
    if settings.resolved_database_url.startswith("postgresql"):
        admin, _ = request.getfixturevalue("postgres_database")
        return settings.model_copy(update={"admin_database_url": admin})
    return settings


def _documents(runtime: Runtime, record_id: Any) -> int:
    with runtime.sessions() as session:
        return int(session.execute(select(func.count()).where(Document.record_id == record_id)).scalar_one())


def test_a_restore_replays_the_deletion_ledger_and_passes_the_drill(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    doctor = f.add_professional(runtime, "10000000002", "10")
    agent = Actor.counter_agent("agent-1")
    doomed_ins, doomed_traits = f.person(order=2, family="BACKUPNAME")
    kept = f.open_record(runtime, agent, *f.person(order=1, family="BACKUPNAME"))
    doomed = f.open_record(runtime, agent, doomed_ins, doomed_traits)
    for view in (kept, kept, doomed):
        _submit(runtime, doctor, view.record.id)
    take_checkpoint(runtime.sessions, runtime.keys.journal_signing_key, runtime.clock.now())
    now = runtime.clock.now()
    database = backup.take_backup(
        settings.resolved_database_url, tmp_path / "db.bak", KEY, what="database", now=now, scratch=tmp_path / "s"
    )
    keys = backup.take_backup(
        default_keystore_url(settings), tmp_path / "keys.bak", KEY, what="keystore", now=now, scratch=tmp_path / "s"
    )
    for made in (database, keys):
        sealed = made.path.read_bytes()
        assert b"BACKUPNAME" not in sealed and runtime.keys.master_key not in sealed
        assert base64.b64encode(runtime.keys.master_key) not in sealed

    # After the backup: the doomed record is deleted at its holder's request, purged and shredded.
    with unit_of_work(runtime.sessions) as session:
        records.request_deletion(session, Actor.patient(doomed_ins), doomed.record.id, now)
    with unit_of_work(runtime.sessions) as session:
        records.purge_record(session, Actor.operator("ops"), doomed.record.id, now)
    shred(JobContext(runtime.sessions, runtime.vault), doomed.record.id, now)
    runtime.engine.dispose()
    runtime.vault.keys.close()

    done = backup.restore(
        settings, lambda: build_runtime(settings, runtime.clock), database.path, KEY, now, keystore_source=keys.path
    )
    assert (done.records_erased_again, done.keys_destroyed_again) == (1, 1)
    after = build_runtime(settings, runtime.clock)
    try:
        with after.sessions() as session:
            assert session.get(Record, doomed.record.id).status == "purged"  # type: ignore[union-attr]
            assert session.execute(select(Patient).where(Patient.record_id == doomed.record.id)).first() is None
        assert _documents(after, doomed.record.id) == 0 and _documents(after, kept.record.id) == 2
        assert backup.verify_restored(after) == []
    finally:
        after.close()


def test_a_backup_with_the_wrong_key_or_altered_bytes_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(3 * backup.SEGMENT + 17))  # several segments
    sealed = tmp_path / "sealed"
    backup.encrypt_file(plain, sealed, KEY, {"what": "database", "kind": "sqlite"})
    back = tmp_path / "back"
    assert backup.decrypt_file(sealed, back, KEY)["kind"] == "sqlite" and back.read_bytes() == plain.read_bytes()
    with pytest.raises(backup.BackupError, match="wrong backup key"):
        backup.decrypt_file(sealed, back, os.urandom(32))
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 1
    altered = tmp_path / "altered"
    altered.write_bytes(bytes(data))
    with pytest.raises(backup.BackupError):
        backup.decrypt_file(altered, back, KEY)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(sealed.read_bytes()[: -backup.SEGMENT // 2])
    with pytest.raises(backup.BackupError):
        backup.decrypt_file(truncated, back, KEY)


def test_the_backup_key_must_not_be_the_master_key(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDMP_BACKUP_KEY", base64.b64encode(KEY).decode())
    with pytest.raises(backup.BackupKeyMissing):
        backup.backup_key(settings, KEY)
