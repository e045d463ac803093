"""All SQL of the record module."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.access import repository as matrix_repo
from opendmp.access.policy import RecordFacts
from opendmp.consent import repository as consents
from opendmp.identity.ins import Ins, InsSystem, StrictTraits
from opendmp.identity.models import InsLookup, Patient, TraitsLookup
from opendmp.record.errors import RecordNotFound
from opendmp.record.models import LegalRepresentative, Record, RecordStatus


def traits_digest(traits: StrictTraits) -> str:
    t = traits.normalised()
    text = "|".join((t.birth_family, t.given_names, t.birth_date.isoformat(), t.gender.value, t.birthplace_code))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_id_by_ins(session: Session, ins: Ins) -> uuid.UUID | None:
    return session.execute(
        select(InsLookup.record_id).where(InsLookup.ins_system == ins.system.value, InsLookup.ins_value == ins.value)
    ).scalar_one_or_none()


def record_ids_by_traits(session: Session, traits: StrictTraits) -> list[uuid.UUID]:
    return list(
        session.execute(
            select(TraitsLookup.record_id).where(TraitsLookup.digest == traits_digest(traits)).limit(2)
        ).scalars()
    )


def get_record(session: Session, record_id: uuid.UUID, *, for_update: bool = False) -> Record | None:
    stmt = select(Record).where(Record.id == record_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def get_patient(session: Session, record_id: uuid.UUID) -> Patient | None:
    return session.get(Patient, record_id)


def active_representatives(session: Session, record_id: uuid.UUID) -> list[LegalRepresentative]:
    return list(
        session.execute(
            select(LegalRepresentative).where(
                LegalRepresentative.record_id == record_id, LegalRepresentative.ended_at.is_(None)
            )
        ).scalars()
    )


def visible_record(
    session: Session,
    record_id: uuid.UUID,
    *,
    for_update: bool = False,
    message: str = "no such record",
    field: str | None = None,
) -> tuple[Record, Patient]:
    """A record as the edges know it, with its patient: purged and merged records are gone."""
    if for_update:
        record = get_record(session, record_id, for_update=True)
        patient = get_patient(session, record_id) if record is not None else None
    else:
        # One query for both (every page and API read loads them to decide access).
        row = session.execute(
            select(Record, Patient).join(Patient, Patient.record_id == Record.id).where(Record.id == record_id)
        ).first()
        record, patient = (row[0], row[1]) if row is not None else (None, None)
    if record is None or patient is None or record.status in (RecordStatus.PURGED, RecordStatus.MERGED):
        raise RecordNotFound(message, field=field)
    return record, patient


def visible_facts(
    session: Session, record_id: uuid.UUID, now: datetime, *, message: str = "no such record", field: str | None = None
) -> tuple[Record, RecordFacts]:
    """A visible record and what the policy needs to know about it."""
    record, patient = visible_record(session, record_id, message=message, field=field)
    return record, load_facts(session, record, patient, now)


def load_facts(
    session: Session,
    record: Record,
    patient: Patient,
    now: datetime,
    representatives: list[LegalRepresentative] | None = None,
) -> RecordFacts:
    rows = consents.access_rows(session, record.id, now, representatives=representatives is None)
    reps = (
        rows.representatives
        if representatives is None
        else frozenset(Ins(InsSystem(r.ins_system), r.ins_value) for r in representatives)
    )
    prefs = consents.preferences(session, record.id)
    return RecordFacts(
        record_id=record.id,
        status=record.status,
        holder=Ins(InsSystem(patient.ins_system), patient.ins_value),
        representatives=reps,
        delegates=rows.delegates,
        grants=rows.grants,
        blocked=rows.blocked,
        medecin_traitant=prefs.medecin_traitant if prefs else None,
        switches=consents.switches_of(prefs),
        emergencies=rows.emergencies,
        matrix=matrix_repo.current_matrix(session),
        mask_new_documents=prefs.mask_new_documents if prefs else False,
    )
