"""Use cases of the patient's content: add, read, change, delete items, list them by kind, the
emergency summary, and the vaccination schedule. Each: load the record, ask the policy, check the
input, change, journal (same transaction), flush. Items are sealed under the record's data key."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action, PatientContent, RecordFacts, purpose_of
from opendmp.consent import service as consents
from opendmp.content import codes
from opendmp.content import repository as repo
from opendmp.content.errors import ContentConflict, ContentNotFound, StaleVersion
from opendmp.content.models import ACTIVE, ENTERED_IN_ERROR, SUPERSEDED, ContentRow
from opendmp.content.schedule import GivenDose, ScheduleReport, vaccination_schedule
from opendmp.content.schemas import (
    DATA_TYPES,
    ContentData,
    ContentItem,
    ContentKind,
    DirectivesRecord,
    ReportOrigin,
    TrustedPerson,
    Vaccination,
    kind_of,
)
from opendmp.document import crypto
from opendmp.document.keystore import KeyStore
from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.models import Patient
from opendmp.journal import service as journal
from opendmp.kit.ids import new_id
from opendmp.notify import service as notifications
from opendmp.notify.models import Category
from opendmp.record import repository as records_repo
from opendmp.record.errors import RecordClosed
from opendmp.record.models import Record, RecordStatus

WRITABLE_STATUSES = (RecordStatus.ACTIVE, RecordStatus.PENDING_OBJECTION)
EXPRESSION_LIBRE = (
    ContentKind.BLOOD_GROUP,
    ContentKind.ALLERGY,
    ContentKind.PERSON_TO_NOTIFY,
    ContentKind.TREATMENT,
    ContentKind.NOTE,
)
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Loaded:
    record: Record
    patient: Patient
    facts: RecordFacts


def _load(session: Session, record_id: uuid.UUID, now: datetime, *, for_update: bool = False) -> Loaded:
    record, patient = records_repo.visible_record(
        session, record_id, for_update=for_update, message="no such patient", field="patient"
    )
    return Loaded(record, patient, records_repo.load_facts(session, record, patient, now))


def load(session: Session, record_id: uuid.UUID, now: datetime) -> Loaded:
    """The record, its patient and policy facts, for a caller that reads several things of the
    record in one transaction (the portal's record at a glance) and hands them to each read."""
    return _load(session, record_id, now)


def _reuse(session: Session, record_id: uuid.UUID, now: datetime, loaded: Loaded | None) -> Loaded:
    # Facts loaded in this transaction already are the same facts: only the record's own count.
    return loaded if loaded is not None and loaded.record.id == record_id else _load(session, record_id, now)


def today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def _seal(keys: KeyStore, record_id: uuid.UUID, item_id: uuid.UUID, data: ContentData) -> bytes:
    # The item id and record id are in every segment's associated data: a sealed item copied onto
    # another row or record does not open.
    data_key = keys.data_key_for(record_id, create=True)
    return b"".join(crypto.encrypt(data_key, item_id, record_id, [_ENCODER.encode(data)]))


def _open(data_key: bytes, row: ContentRow) -> ContentData:
    plain = b"".join(crypto.decrypt(data_key, row.id, row.record_id, [row.sealed]))
    return msgspec.json.decode(plain, type=DATA_TYPES[ContentKind(row.kind)])


def _items(keys: KeyStore, rows: Sequence[ContentRow]) -> list[ContentItem]:
    if not rows:
        return []
    data_key = keys.data_key_for(rows[0].record_id, create=False)
    return [_item(row, _open(data_key, row)) for row in rows]


def _item(row: ContentRow, data: ContentData) -> ContentItem:
    return ContentItem(
        id=row.id,
        record_id=row.record_id,
        kind=ContentKind(row.kind),
        version=row.version,
        status=row.status,
        recorded_at=row.recorded_at,
        recorded_by_kind=row.recorded_by_kind,
        recorded_by=row.recorded_by,
        updated_at=row.updated_at,
        data=data,
    )


def _recorder(actor: Actor) -> str:
    """Who recorded an item, as the policy compares it: the RPPS of a professional (software
    included), the INS value of a patient, the id of anyone else."""
    return actor.rpps or actor.id


def _writable(session: Session, actor: Actor, loaded: Loaded, now: datetime) -> None:
    if loaded.record.status not in WRITABLE_STATUSES:
        # As for documents: the status is said to whoever may look the record up.
        access.require(session, actor, Action.RECORD_LOOKUP, loaded.facts, now)
        raise RecordClosed(f"the record is {loaded.record.status}: nothing can be added", field="patient")


def _prepare(actor: Actor, data: ContentData, loaded: Loaded, now: datetime) -> ContentData:
    """Who recorded a vaccination decides its provenance: a professional's is primary (performer:
    themselves unless named), a patient's is a declaration (primarySource false, an origin)."""
    if isinstance(data, Vaccination):
        if actor.kind is ActorKind.PATIENT:
            data = replace(data, primary_source=False, report_origin=data.report_origin or ReportOrigin.RECALL.value)
        else:
            data = replace(
                data, primary_source=True, report_origin=None, performer_rpps=data.performer_rpps or actor.rpps
            )
    if not isinstance(data, DirectivesRecord):
        data.check(today(now), loaded.patient.birth_date)
    return data


def add_content(
    session: Session, actor: Actor, record_id: uuid.UUID, data: ContentData, now: datetime, keys: KeyStore
) -> ContentItem:
    """Add one item to the record: expression libre by the holder or a representative, a
    vaccination by a vaccinating professional or declared by the patient."""
    loaded = _load(session, record_id, now, for_update=True)
    kind = kind_of(data)
    _writable(session, actor, loaded, now)
    action = Action.VACCINATION_RECORD if kind is ContentKind.VACCINATION else Action.CONTENT_WRITE
    decision = access.require(session, actor, action, PatientContent(loaded.facts, kind.value), now)
    data = _prepare(actor, data, loaded, now)
    if kind is ContentKind.BLOOD_GROUP and repo.active_of(session, record_id, [kind.value]):
        raise ContentConflict(
            "the record already has a blood group: change it (PUT) rather than add another",
            field="Observation.valueCodeableConcept",
        )
    item_id = new_id()
    row = ContentRow(
        id=item_id,
        record_id=record_id,
        kind=kind.value,
        status=ACTIVE,
        version=1,
        recorded_at=now,
        recorded_by_kind=actor.kind.value,
        recorded_by=_recorder(actor),
        updated_at=now,
        sealed=_seal(keys, record_id, item_id, data),
    )
    session.add(row)
    journal.append(
        session,
        actor,
        journal.Event(
            "content:create", "content", str(item_id), reason=f"kind={kind.value}", purpose=purpose_of(decision)
        ),
        record_id=record_id,
        at=now,
    )
    if kind is ContentKind.VACCINATION and actor.kind is not ActorKind.PATIENT:
        notifications.notify_holder(
            session, record_id, Category.NEW_DOCUMENT, {"author": actor.display_name or actor.id, "count": 1}, now
        )
    session.flush()
    return _item(row, data)


def _existing(
    session: Session, item_id: uuid.UUID, now: datetime, *, for_update: bool, kind: ContentKind | None
) -> tuple[ContentRow, Loaded]:
    """An active item (of `kind` when given: an Observation id is no AllergyIntolerance)."""
    row = repo.get(session, item_id, for_update=for_update)
    if row is None or row.status != ACTIVE or (kind is not None and row.kind != kind.value):
        raise ContentNotFound("no such item")
    return row, _load(session, row.record_id, now)


def get_content(
    session: Session,
    actor: Actor,
    item_id: uuid.UUID,
    now: datetime,
    keys: KeyStore,
    *,
    kind: ContentKind | None = None,
) -> ContentItem:
    row, loaded = _existing(session, item_id, now, for_update=False, kind=kind)
    decision = access.require(
        session,
        actor,
        Action.CONTENT_READ,
        PatientContent(loaded.facts, row.kind, row.recorded_by),
        now,
        absent="no such item",
    )
    journal.append(
        session,
        actor,
        journal.Event("content:read", "content", str(item_id), reason=f"kind={row.kind}", purpose=purpose_of(decision)),
        record_id=row.record_id,
        at=now,
    )
    consents.note_professional_access(session, actor, row.record_id, now)
    return _items(keys, [row])[0]


def list_content(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    kinds: Iterable[ContentKind],
    now: datetime,
    keys: KeyStore,
    *,
    loaded: Loaded | None = None,
) -> list[ContentItem]:
    """The record's active items of these kinds, oldest first (a search by patient). `loaded`:
    the record's, when the caller loaded it in this transaction already (see `load`)."""
    loaded = _reuse(session, record_id, now, loaded)
    wanted = list(dict.fromkeys(kinds))
    decision = None
    for kind in wanted:
        decision = access.require(
            session, actor, Action.CONTENT_READ, PatientContent(loaded.facts, kind.value), now, absent="no such patient"
        )
    rows = repo.active_of(session, record_id, [k.value for k in wanted])
    journal.append(
        session,
        actor,
        journal.Event(
            "content:search",
            "record",
            str(record_id),
            reason=f"kinds={','.join(k.value for k in wanted)};returned={len(rows)}",
            purpose=purpose_of(decision) if decision else None,
        ),
        record_id=record_id,
        at=now,
    )
    if rows:
        consents.note_professional_access(session, actor, record_id, now)
    return _items(keys, rows)


def update_content(
    session: Session,
    actor: Actor,
    item_id: uuid.UUID,
    data: ContentData,
    now: datetime,
    keys: KeyStore,
    *,
    if_match: int | None = None,
) -> ContentItem:
    """Replace an item's content (same kind); the journal keeps that it changed, not the old text."""
    row, loaded = _existing(session, item_id, now, for_update=True, kind=kind_of(data))
    _writable(session, actor, loaded, now)
    decision = access.require(
        session, actor, Action.CONTENT_WRITE, PatientContent(loaded.facts, row.kind, row.recorded_by), now
    )
    if if_match is not None and if_match != row.version:
        raise StaleVersion(f"the item changed (version {row.version}, not {if_match})", field="If-Match")
    if isinstance(data, Vaccination) and row.recorded_by_kind != actor.kind.value:
        raise ContentConflict("a vaccination keeps who recorded it", field="Immunization")
    data = _prepare(actor, data, loaded, now)
    row.sealed = _seal(keys, row.record_id, row.id, data)
    row.version += 1
    row.updated_at = now
    journal.append(
        session,
        actor,
        journal.Event(
            "content:update", "content", str(item_id), reason=f"kind={row.kind}", purpose=purpose_of(decision)
        ),
        record_id=row.record_id,
        at=now,
    )
    session.flush()
    return _item(row, data)


def delete_content(
    session: Session,
    actor: Actor,
    item_id: uuid.UUID,
    now: datetime,
    *,
    if_match: int | None = None,
    kind: ContentKind | None = None,
) -> None:
    """Logical deletion (entered-in-error): the item leaves every answer, its sealed bytes stay
    until the record is purged (its key shredded)."""
    row, loaded = _existing(session, item_id, now, for_update=True, kind=kind)
    decision = access.require(
        session, actor, Action.CONTENT_WRITE, PatientContent(loaded.facts, row.kind, row.recorded_by), now
    )
    if if_match is not None and if_match != row.version:
        raise StaleVersion(f"the item changed (version {row.version}, not {if_match})", field="If-Match")
    row.status = ENTERED_IN_ERROR
    row.version += 1
    row.updated_at = now
    journal.append(
        session,
        actor,
        journal.Event(
            "content:delete", "content", str(item_id), reason=f"kind={row.kind}", purpose=purpose_of(decision)
        ),
        record_id=row.record_id,
        at=now,
    )
    session.flush()


@dataclass(frozen=True, slots=True)
class DirectivesInfo:
    """That the record holds advance directives (not their content: that is a document, read
    under the document rules)."""

    document_id: uuid.UUID
    version: int
    filed_at: datetime
    from_questionnaire: bool


@dataclass(frozen=True, slots=True)
class EmergencySummary:
    record_id: uuid.UUID
    family: str
    given: str
    birth_date: date
    gender: str
    blood_group: ContentItem | None
    allergies: list[ContentItem]
    treatments: list[ContentItem]
    people_to_notify: list[ContentItem]
    advance_directives: DirectivesInfo | None
    trusted_person: TrustedPerson | None
    made_at: datetime


def emergency_summary(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    now: datetime,
    keys: KeyStore,
    *,
    loaded: Loaded | None = None,
) -> EmergencySummary:
    """What an emergency team needs at once: blood group, allergies, treatments, people to
    notify, whether advance directives exist and who the trusted person is."""
    loaded = _reuse(session, record_id, now, loaded)
    decision = access.require(
        session,
        actor,
        Action.EMERGENCY_SUMMARY,
        PatientContent(loaded.facts, ContentKind.NOTE.value),
        now,
        absent="no such patient",
    )
    rows = repo.active_of(
        session,
        record_id,
        [
            ContentKind.BLOOD_GROUP.value,
            ContentKind.ALLERGY.value,
            ContentKind.TREATMENT.value,
            ContentKind.PERSON_TO_NOTIFY.value,
            ContentKind.ADVANCE_DIRECTIVES.value,
        ],
    )
    items = _items(keys, rows)
    by_kind: dict[ContentKind, list[ContentItem]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    document = repo.current_directives(session, record_id)
    answers = [i.data for i in by_kind.get(ContentKind.ADVANCE_DIRECTIVES, []) if isinstance(i.data, DirectivesRecord)]
    latest = answers[-1] if answers else None
    directives = None
    if document is not None:
        directives = DirectivesInfo(
            document.id,
            document.version,
            document.submitted_at,
            from_questionnaire=latest is not None and latest.document_id == document.id,
        )
    trusted = latest.answers.trusted_person if latest is not None and directives is not None else None
    blood = by_kind.get(ContentKind.BLOOD_GROUP, [])
    journal.append(
        session,
        actor,
        journal.Event("content:emergency-summary", "record", str(record_id), purpose=purpose_of(decision)),
        record_id=record_id,
        at=now,
    )
    consents.note_professional_access(session, actor, record_id, now)
    patient = loaded.patient
    return EmergencySummary(
        record_id=record_id,
        family=patient.birth_family,
        given=patient.given_names,
        birth_date=patient.birth_date,
        gender=patient.gender,
        blood_group=blood[-1] if blood else None,
        allergies=by_kind.get(ContentKind.ALLERGY, []),
        treatments=by_kind.get(ContentKind.TREATMENT, []),
        people_to_notify=by_kind.get(ContentKind.PERSON_TO_NOTIFY, []),
        advance_directives=directives,
        trusted_person=trusted,
        made_at=now,
    )


@dataclass(frozen=True, slots=True)
class VaccinationRecord:
    """The carnet de vaccination: the doses recorded, and what the schedule asks now."""

    record_id: uuid.UUID
    birth_date: date
    vaccinations: list[ContentItem]
    schedule: ScheduleReport


def vaccination_record(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    now: datetime,
    keys: KeyStore,
    *,
    loaded: Loaded | None = None,
) -> VaccinationRecord:
    loaded = _reuse(session, record_id, now, loaded)
    items = list_content(session, actor, record_id, [ContentKind.VACCINATION], now, keys, loaded=loaded)
    patient = loaded.patient
    given = [
        GivenDose(codes.vaccine(i.data.vaccine_code).groups, i.data.on)
        for i in items
        if isinstance(i.data, Vaccination)
    ]
    report = vaccination_schedule(patient.birth_date, today(now), given)
    return VaccinationRecord(record_id, patient.birth_date, items, report)


def merge_content(session: Session, keys: KeyStore, duplicate_id: uuid.UUID, survivor_id: uuid.UUID) -> None:
    """A merge (record.service.merge_records): the duplicate's items are re-sealed under the
    survivor's data key and move to it, nothing lost. A record has one blood group: when both
    had one, the survivor's stays in force and the duplicate's is kept as superseded."""
    rows = list(session.scalars(select(ContentRow).where(ContentRow.record_id == duplicate_id)))
    if not rows:
        return
    old_key = keys.data_key_for(duplicate_id, create=False)
    keys.data_key_for(survivor_id, create=True)
    survivor_has_blood_group = session.scalar(
        select(ContentRow.id).where(
            ContentRow.record_id == survivor_id,
            ContentRow.kind == ContentKind.BLOOD_GROUP.value,
            ContentRow.status == ACTIVE,
        )
    )
    for row in rows:
        data = _open(old_key, row)
        row.record_id = survivor_id
        row.sealed = _seal(keys, survivor_id, row.id, data)
        if survivor_has_blood_group and row.kind == ContentKind.BLOOD_GROUP.value and row.status == ACTIVE:
            row.status = SUPERSEDED
