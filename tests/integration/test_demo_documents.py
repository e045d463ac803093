"""The demo's synthetic documents: filed through the document service (encrypted, journaled,
counted by source and type in the statistics), deterministic, and a readable handful for the
sample patient."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import func, select

from opendmp.document import service as documents
from opendmp.document.models import Document, DocumentAuthor
from opendmp.document.synthetic import fill_sample_documents, plan_documents, seed_documents, simple_pdf
from opendmp.identity.actor import Actor
from opendmp.identity.models import Organisation, Patient, Professional
from opendmp.journal.models import JournalEntry
from opendmp.journal.verify import verify_all
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from opendmp.seed import seed_platform
from opendmp.stats import counters
from opendmp.stats.dashboard import dashboard_figures
from opendmp.stats.figures import deployment_figures
from tests import factories as f

PER_WEEK = 0.3  # more than the demo's, so that a small store holds every source


def _seed(runtime: Runtime, patients: int = 80, seed: int = 3) -> None:
    today = runtime.clock.now().date()
    start = today - timedelta(days=today.weekday(), weeks=10)
    seed_platform(runtime, patients=patients, seed=seed, start=start, weeks=10)


def _sources_from_documents(runtime: Runtime) -> Counter[str]:
    """Each stored document's source, recomputed from its row and the directory."""
    with runtime.sessions() as session:
        kinds = dict(session.execute(select(Organisation.finess, Organisation.kind)).all())
        rows = session.execute(select(Document.submitted_by_kind, Document.submitted_by_organisation)).all()
    return Counter(counters.document_source(kind, kinds.get(org) if org else None) for kind, org in rows)


def test_demo_documents_are_counted_by_source_and_type_as_the_dashboard_and_stats_show(runtime: Runtime) -> None:
    _seed(runtime)
    filed = seed_documents(runtime, seed=3, until=runtime.clock.now(), per_week=PER_WEEK)
    assert filed > 100
    by_source = _sources_from_documents(runtime)
    assert sum(by_source.values()) == filed
    # The real-world mix: establishments first, then patients, then liberal professionals.
    assert by_source["establishment"] > by_source["patient"] > by_source["liberal"] > 0
    assert "insurer" not in by_source  # the reimbursement history comes from its own feed
    now = runtime.clock.now()
    with runtime.sessions() as session:
        dashboard = dashboard_figures(session, f.OPERATOR, now, target=40_000_000)["documents"]
        stats = deployment_figures(session, f.OPERATOR, now)
        types = Counter(
            dict(session.execute(select(Document.type_code, func.count()).group_by(Document.type_code)).all())
        )
        created = session.execute(
            select(func.count()).select_from(JournalEntry).where(JournalEntry.action == "document:create")
        ).scalar_one()
    assert dashboard["added"] == stats.documents_added == filed
    assert {s: n for s, n in dashboard["bySource"].items() if n} == dict(by_source)
    assert {s: n for s, n in stats.documents_by_source.items() if n} == dict(by_source)
    assert sum(sum(w["bySource"].values()) for w in dashboard["weekly"]) == filed
    assert len(dashboard["weekly"]) >= 8  # spread over the seeded weeks, not one day
    assert {t["typeCode"]: t["added"] for t in dashboard["byType"]} == dict(types)
    assert types.most_common(1)[0][0] == "11502-2"  # biology leads, as in 2023
    assert created == filed  # each journaled in its record's chain


def test_demo_documents_are_encrypted_readable_pdfs_and_the_journal_verifies(runtime: Runtime) -> None:
    _seed(runtime, patients=30)
    filed = seed_documents(runtime, seed=3, until=runtime.clock.now(), per_week=PER_WEEK)
    with runtime.sessions() as session:
        stored = session.execute(select(Document).order_by(Document.unique_id).limit(5)).scalars().all()
        for document in stored:
            blob = runtime.vault.blobs.get(document.blob_key)
            content = b"".join(runtime.vault.open(document))
            assert content not in b"".join(blob)  # at rest only ciphertext
            assert hashlib.sha256(content).hexdigest() == document.sha256
            text = PdfReader(io.BytesIO(content)).pages[0].extract_text()
            assert document.title in text
    assert filed > 0
    with runtime.sessions() as session:
        assert list(verify_all(session)) == []


def test_document_seeding_is_deterministic(runtime: Runtime) -> None:
    _seed(runtime, patients=40)
    until = runtime.clock.now()
    with runtime.sessions() as session:
        first = plan_documents(session, seed=5, until=until, per_week=PER_WEEK)
        again = plan_documents(session, seed=5, until=until, per_week=PER_WEEK)
        other = plan_documents(session, seed=6, until=until, per_week=PER_WEEK)
    assert first == again
    assert first != other
    seed_documents(runtime, seed=5, until=until, per_week=PER_WEEK)
    expected = sorted(
        (
            d.unique_id,
            d.kind.type_code,
            d.at,
            hashlib.sha256(simple_pdf(d.kind.title, d.lines)).hexdigest(),
            d.author.professional.rpps if d.author and d.author.professional else None,
        )
        for plan in first
        for d in plan.documents
    )
    with runtime.sessions() as session:
        rows = session.execute(
            select(Document.unique_id, Document.type_code, Document.submitted_at, Document.sha256, DocumentAuthor.rpps)
            .join(DocumentAuthor, DocumentAuthor.document_id == Document.id)
            .order_by(Document.unique_id)
        ).all()
    assert sorted(tuple(r) for r in rows) == expected


def test_the_sample_patient_has_documents_from_several_authors_that_the_demo_doctor_reads(runtime: Runtime) -> None:
    _seed(runtime, patients=40)
    with runtime.sessions() as session:
        nir = session.execute(select(Patient.ins_value).order_by(Patient.ins_value).limit(1)).scalar_one()
        rpps = session.execute(
            select(Professional.rpps).where(Professional.profession == "10").order_by(Professional.rpps).limit(1)
        ).scalar_one()
        record_id = session.execute(select(Patient.record_id).where(Patient.ins_value == nir)).scalar_one()
    assert fill_sample_documents(runtime, nir, rpps) == 7
    assert fill_sample_documents(runtime, nir, rpps) == 0  # each demo start: nothing twice
    doctor = Actor.professional(rpps, "10", None)
    now = runtime.clock.now()
    with runtime.sessions() as session:
        sample = session.execute(select(Document).where(Document.record_id == record_id)).scalars().all()
        authors = session.execute(
            select(DocumentAuthor.kind, DocumentAuthor.rpps).where(DocumentAuthor.record_id == record_id)
        ).all()
    assert {"11502-2", "34112-3", "18748-4", "11488-4", "DOCPAT07"} <= {d.type_code for d in sample}
    assert len({r for _, r in authors if r}) >= 3 and ("patient", None) in {tuple(a) for a in authors}
    for document in sample:
        with unit_of_work(runtime.sessions) as session:
            content = documents.read_content_as(session, doctor, document.id, now, runtime.vault, mime_type=None)
            assert b"".join(content.chunks).startswith(b"%PDF-")
