"""The insurer's reimbursement history, through the real layers on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from opendmp.access.policy import Action
from opendmp.document import service as documents
from opendmp.document.models import Document
from opendmp.feed import generator, history
from opendmp.feed import service as feed
from opendmp.feed.claims import read_ndjson
from opendmp.feed.ingest import RejectsWriter, feed_files
from opendmp.feed.models import ReimbursementBatch, ReimbursementClaim, ReimbursementParked
from opendmp.identity.actor import Actor
from opendmp.journal.models import JournalEntry
from opendmp.journal.service import chain_of
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import DomainError
from opendmp.runtime import Runtime
from tests.factories import add_professional, authorise, open_record, person

INSURER = Actor.insurer_feed()


def _claim(nir: str, claim_id: str, day: str = "2026-05-02", **kw: object) -> dict[str, object]:
    line: dict[str, object] = {
        "claim_id": claim_id,
        "nir": nir,
        "care_date": day,
        "system": "NGAP",
        "code": "G",
        "label": "Consultation",
        "executant_rpps": "10000000099",
        "executant_name": "Dr Martin",
        "paid": "30.00",
        "reimbursed": "21.00",
    }
    line.update(kw)
    return line


def _write(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _feed(runtime: Runtime, *paths: Path, rejects: io.StringIO | None = None, chunk: int = 1000) -> object:
    return feed_files(
        runtime.sessions, runtime.vault.keys, runtime.clock, list(paths), RejectsWriter(rejects), chunk_lines=chunk
    )


def _count(runtime: Runtime, model: object, *where: object) -> int:
    with runtime.sessions() as session:
        return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())  # type: ignore[arg-type]


def _opened(runtime: Runtime, order: int = 1) -> tuple[uuid.UUID, str]:
    ins, traits = person(order=order)
    view = open_record(runtime, INSURER, ins, traits)
    return view.record.id, ins.value


def _history_document(runtime: Runtime, record_id: uuid.UUID) -> Document:
    with runtime.sessions() as session:
        return session.execute(
            select(Document).where(Document.record_id == record_id, Document.type_code == "REMB")
        ).scalar_one()


def test_feeding_files_a_history_document_per_record_and_refeeding_adds_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    record_id, nir = _opened(runtime)
    path = _write(tmp_path / "day.ndjson", [_claim(nir, f"C{i}") for i in range(5)])
    report = _feed(runtime, path)
    assert (report.outcome.stored, report.rejected) == (5, 0)  # type: ignore[attr-defined]
    again = _feed(runtime, path)
    assert (again.outcome.stored, again.outcome.already_fed, again.rejected) == (0, 5, 0)  # type: ignore[attr-defined]
    assert _count(runtime, ReimbursementBatch, ReimbursementBatch.record_id == record_id) == 1
    assert _count(runtime, Document, Document.record_id == record_id, Document.type_code == "REMB") == 1
    with runtime.sessions() as session:
        assert len(feed.claims_of(session, runtime.vault.keys, record_id)) == 5
        sealed = session.execute(select(ReimbursementBatch.sealed)).scalar_one()
    assert nir.encode() not in sealed and b"Consultation" not in sealed  # encrypted at rest


def test_a_claim_id_repeated_in_one_batch_is_rejected_with_its_line(runtime: Runtime, tmp_path: Path) -> None:
    _, nir = _opened(runtime)
    lines = [_claim(nir, "A"), _claim(nir, "B"), _claim(nir, "A"), _claim(nir, "C", system="XYZ")]
    rejects = io.StringIO()
    report = _feed(runtime, _write(tmp_path / "f.ndjson", lines), rejects=rejects, chunk=2)
    assert report.rejected == 2  # type: ignore[attr-defined]
    text = rejects.getvalue()
    assert "f.ndjson,3,A,claim_id A repeated in this batch" in text
    assert ',4,C,"system: unknown code system' in text
    assert _count(runtime, ReimbursementClaim) == 2


def test_one_journal_entry_per_record_per_batch_which_the_holder_sees(runtime: Runtime, tmp_path: Path) -> None:
    first, nir1 = _opened(runtime, 1)
    second, nir2 = _opened(runtime, 2)
    lines = [_claim(nir1, f"X{i}") for i in range(4)] + [_claim(nir2, f"Y{i}") for i in range(3)]
    _feed(runtime, _write(tmp_path / "f.ndjson", lines))
    _feed(runtime, _write(tmp_path / "g.ndjson", [_claim(nir1, "X9")]))
    with runtime.sessions() as session:
        for record_id, expected in ((first, ["document:create", "document:update"]), (second, ["document:create"])):
            actions = session.execute(
                select(JournalEntry.action)
                .where(JournalEntry.chain == chain_of(record_id), JournalEntry.action.like("document:%"))
                .order_by(JournalEntry.seq)
            ).scalars()
            assert list(actions) == expected
    assert _history_document(runtime, first).meta_version == 2
    from opendmp.journal.verify import verify_all

    with runtime.sessions() as session:
        assert list(verify_all(session)) == []  # the bulk-written entries chain like any other


def test_claims_without_a_record_are_parked_encrypted_and_attached_at_opening(runtime: Runtime, tmp_path: Path) -> None:
    ins, traits = person(order=7)
    now = runtime.clock.now()
    old = (now - timedelta(days=800)).date().isoformat()
    lines = [_claim(ins.value, "P1"), _claim(ins.value, "P2", old)]
    report = _feed(runtime, _write(tmp_path / "f.ndjson", lines))
    assert report.outcome.parked == 2  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        parked = session.execute(select(ReimbursementParked)).scalar_one()
    assert ins.value not in parked.nir_digest and ins.value.encode() not in parked.sealed
    view = open_record(runtime, INSURER, ins, traits)
    with unit_of_work(runtime.sessions) as session:
        attached = feed.attach_at_opening(session, runtime.vault.keys, view.record.id, ins.value, now)
    assert attached == 1  # the line older than 24 months is dropped
    assert _count(runtime, ReimbursementParked) == 0
    with runtime.sessions() as session:
        assert [c.claim_id for c in feed.claims_of(session, runtime.vault.keys, view.record.id)] == ["P1"]
    assert _count(runtime, ReimbursementClaim, ReimbursementClaim.record_id == view.record.id) == 1


def test_parked_claims_are_purged_on_objection_and_after_ninety_days(runtime: Runtime, tmp_path: Path) -> None:
    from opendmp.jobs import run_jobs

    ins, _ = person(order=8)
    other, _ = person(order=9)
    _feed(runtime, _write(tmp_path / "f.ndjson", [_claim(ins.value, "O1"), _claim(other.value, "O2")]))
    with unit_of_work(runtime.sessions) as session:
        assert (
            feed.purge_parked(
                session, feed.FeedKeys(runtime.vault.keys), ins.value, runtime.clock.now(), reason="objection"
            )
            == 1
        )
    assert _count(runtime, ReimbursementParked) == 1
    later = runtime.clock.now() + timedelta(days=feed.PARKING_DAYS)
    [result] = run_jobs(runtime.job_context(), later, ["reimbursement-parking-purge"])
    assert result.done == 1
    assert _count(runtime, ReimbursementParked) == 0
    assert _count(runtime, ReimbursementClaim) == 0


def test_history_is_read_through_the_policy_holder_and_authorised_pharmacist_yes_insurer_no(
    runtime: Runtime, tmp_path: Path
) -> None:
    ins, traits = person(order=11)
    record_id = open_record(runtime, INSURER, ins, traits).record.id
    nirs = [ins.value]
    path = tmp_path / "gen.ndjson"
    with path.open("wb") as out:
        generator.write(out, 60, 3, nirs, runtime.clock.now().date())
    assert _feed(runtime, path).rejected == 0  # type: ignore[attr-defined]
    doc = _history_document(runtime, record_id)
    pharmacist = add_professional(runtime, "10000000021", "21")
    stranger = add_professional(runtime, "10000000031", "10")
    authorise(runtime, record_id, pharmacist)
    now = runtime.clock.now()
    for reader in (Actor.patient(ins), pharmacist):
        with unit_of_work(runtime.sessions) as session:
            content = documents.read_content_as(session, reader, doc.id, now, runtime.vault, mime_type=None)
            body = json.loads(b"".join(content.chunks))
        assert body["lines"] == 60 and body["visits"] and body["medicines"]
    with unit_of_work(runtime.sessions) as session:
        pdf = documents.read_content_as(
            session, Actor.patient(ins), doc.id, now, runtime.vault, mime_type="application/pdf"
        )
        assert b"".join(pdf.chunks).startswith(b"%PDF")
    for outsider, kind in ((INSURER, "not-found"), (stranger, "not-found"), (Actor.operator("op"), "not-found")):
        with pytest.raises(DomainError) as refused, unit_of_work(runtime.sessions) as session:
            documents.read_content_as(session, outsider, doc.id, now, runtime.vault, mime_type=None)
        assert refused.value.kind.value == kind
    assert Action.DOCUMENT_READ  # the same action as every document's read


def test_history_groups_by_visit_and_by_medicine() -> None:
    from datetime import UTC, datetime

    from opendmp.feed.claims import Claim

    def claim(cid: str, day: str, system: str, code: str, who: str | None, finess: str | None) -> Claim:
        return Claim(cid, day, system, code, "x", 1, None, who, finess, None, 1000, 700)

    items = [
        claim("1", "2026-01-02", "NGAP", "G", "10000000001", None),
        claim("2", "2026-01-02", "NABM", "1104", "10000000001", None),
        claim("3", "2026-01-02", "NGAP", "G", "10000000002", None),
        claim("4", "2026-01-05", "CIP", "3400930000001", None, "750000001"),
        claim("5", "2026-02-05", "CIP", "3400930000001", None, "750000001"),
    ]
    content = history.history(items, uuid.uuid4(), datetime(2026, 3, 1, tzinfo=UTC))
    assert [(v["date"], len(v["acts"])) for v in content["visits"]] == [("2026-01-02", 1), ("2026-01-02", 2)] or [
        (v["date"], len(v["acts"])) for v in content["visits"]
    ] == [("2026-01-02", 2), ("2026-01-02", 1)]
    [medicine] = content["medicines"]
    assert (medicine["dispensings"], medicine["first"], medicine["last"]) == (2, "2026-01-05", "2026-02-05")
    assert content["reimbursed"] == {"value": "35.00", "currency": "EUR"}


def test_only_the_insurer_feeds_reimbursements(runtime: Runtime, tmp_path: Path) -> None:
    record_id, nir = _opened(runtime)
    doctor = add_professional(runtime, "10000000041", "10")
    authorise(runtime, record_id, doctor)
    lines = [
        item for item in read_ndjson(io.BytesIO(json.dumps(_claim(nir, "Z")).encode()), runtime.clock.now().date())
    ]
    with pytest.raises(DomainError), unit_of_work(runtime.sessions) as session:
        feed.store_chunk(session, doctor, feed.FeedKeys(runtime.vault.keys), uuid.uuid4(), lines, runtime.clock.now())  # type: ignore[arg-type]
    assert _count(runtime, ReimbursementClaim) == 0


def test_a_merge_moves_the_claims_under_the_survivors_key_and_keeps_one_history(
    runtime: Runtime, tmp_path: Path
) -> None:
    from opendmp.record import service as records
    from tests.factories import OPERATOR

    ins_a, traits = person(order=51)
    ins_b, _ = person(order=52)
    duplicate = open_record(runtime, INSURER, ins_a, traits).record.id
    survivor = open_record(runtime, INSURER, ins_b, traits).record.id
    _feed(runtime, _write(tmp_path / "f.ndjson", [_claim(ins_a.value, "M1"), _claim(ins_b.value, "M2", "2026-04-01")]))
    now = runtime.clock.now()
    with unit_of_work(runtime.sessions) as session:
        records.merge_records(session, OPERATOR, survivor, duplicate, now, runtime.vault)
    runtime.vault.keys.destroy(duplicate, "test", now)  # the duplicate's key no longer matters
    with runtime.sessions() as session:
        assert sorted(c.claim_id for c in feed.claims_of(session, runtime.vault.keys, survivor)) == ["M1", "M2"]
        current = session.execute(
            select(Document).where(
                Document.record_id == survivor, Document.type_code == "REMB", Document.status == "current"
            )
        ).scalar_one()
    assert current.service_start is not None and current.service_start.date().isoformat() == "2026-04-01"
    assert current.service_stop is not None and current.service_stop.date().isoformat() == "2026-05-02"


def test_lines_parked_before_an_opening_without_the_hook_join_the_record_with_its_next_lines(
    runtime: Runtime, tmp_path: Path
) -> None:
    ins, traits = person(order=61)
    _feed(runtime, _write(tmp_path / "before.ndjson", [_claim(ins.value, "E1", "2026-03-01")]))
    record_id = open_record(runtime, INSURER, ins, traits).record.id  # the factory: no attach hook
    assert _count(runtime, ReimbursementParked) == 1
    _feed(runtime, _write(tmp_path / "after.ndjson", [_claim(ins.value, "E2")]))
    assert _count(runtime, ReimbursementParked) == 0
    with runtime.sessions() as session:
        assert sorted(c.claim_id for c in feed.claims_of(session, runtime.vault.keys, record_id)) == ["E1", "E2"]
    assert _count(runtime, Document, Document.record_id == record_id, Document.type_code == "REMB") == 1


def test_a_purge_leaves_no_claim_of_the_record_behind(runtime: Runtime, tmp_path: Path) -> None:
    """Not the sealed lines, nor the index saying which claims the record had."""
    from opendmp.record import service as records
    from tests.factories import OPERATOR

    ins, traits = person(order=71)
    record_id, nir = open_record(runtime, INSURER, ins, traits).record.id, ins.value
    _feed(runtime, _write(tmp_path / "f.ndjson", [_claim(nir, "P1"), _claim(nir, "P2")]))
    assert _count(runtime, ReimbursementClaim, ReimbursementClaim.record_id == record_id) == 2
    with unit_of_work(runtime.sessions) as session:
        records.request_deletion(session, Actor.patient(ins), record_id, runtime.clock.now())
    with unit_of_work(runtime.sessions) as session:
        records.purge_record(session, OPERATOR, record_id, runtime.clock.now())
    assert _count(runtime, ReimbursementClaim, ReimbursementClaim.record_id == record_id) == 0
    assert _count(runtime, ReimbursementBatch, ReimbursementBatch.record_id == record_id) == 0


@pytest.mark.parametrize("kind", ["ndjson", "csv"])
def test_a_file_parsed_in_a_second_process_is_filed_exactly_as_in_one(
    runtime: Runtime, tmp_path: Path, kind: str
) -> None:
    """The pipelined path (a parser process one chunk ahead of the filing) gives the same
    claims, counts and rejects, in the same order, as parsing in the feeder itself."""
    first, nir = _opened(runtime, order=1)
    second, other_nir = _opened(runtime, order=2)
    unknown = person(order=3)[0].value  # no record: parked
    lines = [
        _claim(nir, "A1"),
        _claim(nir, "A2", day="2026-04-01"),
        _claim(other_nir, "B1", system="XYZ"),  # refused while parsing
        _claim(other_nir, "B2"),
        _claim(nir, "A1"),  # repeated: refused while filing (an earlier chunk)
        _claim(nir, "A3", paid="1.00", reimbursed="2.00"),  # refused while parsing
        _claim(nir, "A4"),
    ]
    lines.append(_claim(unknown, "P1"))
    if kind == "ndjson":
        path = _write(tmp_path / "day.ndjson", lines)
    else:
        path = tmp_path / "day.csv"
        header = [*lines[0], "quantity"]
        path.write_text(
            ",".join(header) + "\n" + "".join(",".join(str(line.get(h, "")) for h in header) + "\n" for line in lines),
            encoding="utf-8",
        )
    one, two = io.StringIO(), io.StringIO()
    parsed_apart = feed_files(
        runtime.sessions,
        runtime.vault.keys,
        runtime.clock,
        [path],
        RejectsWriter(two),
        chunk_lines=2,
        parse_in_worker=True,
    )
    report = parsed_apart.outcome
    assert (parsed_apart.lines, parsed_apart.rejected) == (8, 3)
    assert (report.stored, report.parked, report.records) == (4, 1, 3)  # records summed over the chunks
    offset = 1 if kind == "csv" else 0  # the CSV header is line 1
    assert [row.split(",")[1:3] for row in two.getvalue().splitlines()[1:]] == [
        [str(3 + offset), "B1"],
        [str(5 + offset), "A1"],
        [str(6 + offset), "A3"],
    ]
    with runtime.sessions() as session:
        assert sorted(c.claim_id for c in feed.claims_of(session, runtime.vault.keys, first)) == ["A1", "A2", "A4"]
        assert [c.claim_id for c in feed.claims_of(session, runtime.vault.keys, second)] == ["B2"]
    again = feed_files(
        runtime.sessions,
        runtime.vault.keys,
        runtime.clock,
        [path],
        RejectsWriter(one),
        chunk_lines=2,
        parse_in_worker=False,
    )
    assert (again.outcome.stored, again.outcome.already_fed) == (0, 6)  # the index was written (A1 twice)
    assert [row.split(",")[1:3] for row in one.getvalue().splitlines()[1:]] == [
        [str(3 + offset), "B1"],
        [str(6 + offset), "A3"],
    ]
