"""Use cases of the VSM and the DLU: validate the form, write its CDA (PDF body), file it through
the document service (policy, journal, encryption, counters and notifications as for any
document; a new version replaces the previous one with an RPLC relation), and keep the form's
answers as a sealed structured copy beside it; read the latest (or one version's) copy back."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import DLU_TYPE, VSM_TYPE, Action, NewDocument, decide
from opendmp.document import crypto
from opendmp.document import service as documents
from opendmp.document.keystore import KeyStore
from opendmp.document.models import Document, DocumentStatus
from opendmp.document.vault import Vault
from opendmp.fhir.document import DocumentIn, SubjectRef
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem
from opendmp.identity.models import Organisation, Professional
from opendmp.kit.errors import NotFound
from opendmp.kit.ids import new_id
from opendmp.record import repository as records_repo
from opendmp.summary import cda, pdf
from opendmp.summary.forms import DluIn, VsmIn, to_json, validate_dlu, validate_vsm
from opendmp.summary.models import ClinicalSummary

PARIS = ZoneInfo("Europe/Paris")
KINDS = {"vsm": VSM_TYPE, "dlu": DLU_TYPE}


class SummaryNotFound(NotFound):
    """No VSM (or DLU) the actor may read in this record."""


@dataclass(frozen=True, slots=True)
class StoredSummary:
    summary: ClinicalSummary
    document: documents.StoredDocument
    version: int


@dataclass(frozen=True, slots=True)
class SummaryView:
    """A structured copy as read back: the form's answers and what identifies its document."""

    kind: str
    document_id: uuid.UUID
    version: int
    status: str
    written_at: datetime
    author_rpps: str
    copy: dict[str, Any]


def today(now: datetime) -> date:
    """The date in France: 'no date in the future' is judged on the French calendar."""
    return now.astimezone(PARIS).date()


def submit_vsm(
    session: Session, actor: Actor, record_id: uuid.UUID, form: VsmIn, now: datetime, vault: Vault, *, max_size: int
) -> StoredSummary:
    """The médecin traitant's VSM (policy: access.policy, VSM rule), a new version of the current
    one if there is one."""
    validate_vsm(form, today(now))
    return _submit(session, actor, record_id, "vsm", form, now, vault, max_size=max_size)


def submit_dlu(
    session: Session, actor: Actor, record_id: uuid.UUID, form: DluIn, now: datetime, vault: Vault, *, max_size: int
) -> StoredSummary:
    """The EHPAD's DLU (policy: professionals of an EHPAD with an access)."""
    validate_dlu(form, today(now))
    return _submit(session, actor, record_id, "dlu", form, now, vault, max_size=max_size)


def _latest(session: Session, record_id: uuid.UUID, kind: str) -> tuple[ClinicalSummary, Document] | None:
    row = session.execute(
        select(ClinicalSummary, Document)
        .join(Document, Document.id == ClinicalSummary.document_id)
        .where(
            ClinicalSummary.record_id == record_id,
            ClinicalSummary.kind == kind,
            Document.status == DocumentStatus.CURRENT.value,
        )
        .order_by(ClinicalSummary.written_at.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else None


def current_version(session: Session, record_id: uuid.UUID, kind: str) -> uuid.UUID | None:
    """The document id of the current VSM (or DLU), if any; no policy: for jobs and the demo."""
    latest = _latest(session, record_id, kind)
    return latest[1].id if latest else None


def _new_oid() -> str:
    return f"2.25.{uuid.uuid4().int}"  # an OID made of a UUID (ITU-T X.667)


def _submit(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    kind: str,
    form: VsmIn | DluIn,
    now: datetime,
    vault: Vault,
    *,
    max_size: int,
) -> StoredSummary:
    _, facts = records_repo.visible_facts(session, record_id, now, message="no such patient", field="patient")
    rpps = actor.rpps
    if rpps is None:
        # Only professionals write summaries: the policy refuses (and journals) everyone else.
        access.require(session, actor, Action.DOCUMENT_CREATE, NewDocument(facts, KINDS[kind]), now)
        raise AssertionError("unreachable: only professionals write summaries")
    patient = records_repo.get_patient(session, record_id)
    assert patient is not None  # visible_facts found it
    professional = session.execute(select(Professional).where(Professional.rpps == rpps)).scalar_one_or_none()
    family, given = (professional.family, professional.given) if professional else (rpps, "")
    organisation = (
        session.execute(select(Organisation).where(Organisation.finess == actor.organisation)).scalar_one_or_none()
        if actor.organisation
        else None
    )
    previous = _latest(session, record_id, kind)
    replaces = None
    version, set_oid = 1, _new_oid()
    if previous is not None:
        earlier = previous[1]
        # A new version when this writer may replace the current one (the VSM's writers always
        # may; a DLU by its author); otherwise a document of its own, the newest being current.
        target = documents.facts_of(session, earlier, facts)
        if decide(actor, Action.DOCUMENT_REPLACE, target, now).allowed and earlier.set_id:
            replaces, version, set_oid = earlier, earlier.version + 1, earlier.set_id
    document_oid = _new_oid()
    ins = Ins(InsSystem(patient.ins_system), patient.ins_value)
    heading = pdf.Heading(
        title=cda.TITLES[kind],
        patient=f"{patient.given_names.split()[0].title()} {patient.birth_family}",
        birth_date=patient.birth_date,
        ins=ins.value,
        author=f"{given} {family}".strip(),
        organisation=organisation.name if organisation else None,
        written_at=now.astimezone(PARIS),
        version=version,
    )
    body = pdf.render_vsm(heading, form) if isinstance(form, VsmIn) else pdf.render_dlu(heading, form)
    content = cda.build_cda(
        cda.CdaSpec(
            kind=kind,
            document_oid=document_oid,
            set_oid=set_oid,
            version=version,
            effective_time=now,
            patient_ins=ins,
            patient_family=patient.birth_family,
            patient_given=patient.given_names,
            patient_birth_date=patient.birth_date,
            patient_gender=patient.gender,
            author=cda.CdaAuthorIn(
                rpps, family, given, actor.organisation, organisation.name if organisation else None
            ),
            pdf=body,
            replaces_oid=replaces.unique_id if replaces is not None else None,
        )
    )
    item = DocumentIn(
        subject=SubjectRef(record_id=record_id),
        type_system="http://loinc.org",
        type_code=KINDS[kind],
        unique_id=document_oid,
        title=cda.TITLES[kind],
        format_code=cda.PDF_FORMAT_CODE,
        mime_type="text/xml",
        created_at=now,
        replaces=replaces.id if replaces is not None else None,
    )
    stored = documents.submit_document(session, actor, item, content, now, vault, max_size=max_size)
    copy = {
        "kind": kind,
        "version": version,
        "written_at": now.isoformat(),
        "author": {"rpps": rpps, "family": family, "given": given, "finess": actor.organisation},
        "form": to_json(form),
    }
    summary_id = new_id()
    data_key = vault.keys.data_key_for(record_id, create=True)
    plain = json.dumps(copy, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    sealed = b"".join(crypto.encrypt(data_key, summary_id, record_id, [plain]))
    summary = ClinicalSummary(
        id=summary_id,
        record_id=record_id,
        kind=kind,
        document_id=stored.document.id,
        author_rpps=rpps,
        written_at=now,
        sealed=sealed,
        reminded_at=None,
    )
    session.add(summary)
    session.flush()
    return StoredSummary(summary, stored, version)


def read_summary(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    kind: str,
    now: datetime,
    vault: Vault,
    *,
    document_id: uuid.UUID | None = None,
) -> SummaryView:
    """The current VSM (or DLU) of a record, or the version filed as `document_id`: read like its
    document (the same policy decision and journal entry), then unsealed."""
    _, facts = records_repo.visible_facts(session, record_id, now, message="no such patient", field="patient")
    access.require(session, actor, Action.RECORD_LOOKUP, facts, now)
    if document_id is None:
        latest = _latest(session, record_id, kind)
        summary = latest[0] if latest else None
    else:
        summary = session.execute(
            select(ClinicalSummary).where(
                ClinicalSummary.record_id == record_id,
                ClinicalSummary.kind == kind,
                ClinicalSummary.document_id == document_id,
            )
        ).scalar_one_or_none()
    if summary is None:
        raise SummaryNotFound(f"no {kind.upper()} in this record")
    found = documents.get_document(session, actor, summary.document_id, now, action="document:read-content")
    data_key = vault.keys.data_key_for(record_id, create=False)
    plain = b"".join(crypto.decrypt(data_key, summary.id, record_id, [summary.sealed]))
    return SummaryView(
        kind=kind,
        document_id=summary.document_id,
        version=found.document.version,
        status=found.document.status,
        written_at=summary.written_at,
        author_rpps=summary.author_rpps,
        copy=json.loads(plain),
    )


def merge_summaries(session: Session, keys: KeyStore, duplicate_id: uuid.UUID, survivor_id: uuid.UUID) -> None:
    """A merge (record.service.merge_records): the duplicate's structured copies are re-sealed
    under the survivor's data key and move with their documents."""
    rows = list(session.execute(select(ClinicalSummary).where(ClinicalSummary.record_id == duplicate_id)).scalars())
    if not rows:
        return
    old_key = keys.data_key_for(duplicate_id, create=False)
    new_key = keys.data_key_for(survivor_id, create=True)
    for row in rows:
        plain = b"".join(crypto.decrypt(old_key, row.id, duplicate_id, [row.sealed]))
        row.sealed = b"".join(crypto.encrypt(new_key, row.id, survivor_id, [plain]))
        row.record_id = survivor_id
