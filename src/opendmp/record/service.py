"""Use cases of the record lifecycle. Each: load, ask the policy, check the rule, change, journal.
Services flush, never commit: the edge's unit of work does (ARCHITECTURE rule 2)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action, NewRecord
from opendmp.auth import letters, patients
from opendmp.auth.hashing import AuthSecrets
from opendmp.auth.patients import Credentials
from opendmp.config import OpeningPolicy
from opendmp.consent.models import Authorisation, AuthorisationKind
from opendmp.consent.windows import window_days_for, window_end
from opendmp.content.models import ContentRow
from opendmp.document.models import Document, DocumentAuthor, DocumentExam, DocumentLookup, SubmissionSet
from opendmp.document.vault import Vault
from opendmp.feed.models import ReimbursementBatch, ReimbursementClaim
from opendmp.identity import geography
from opendmp.identity.actor import NURSES, PHARMACIST, Actor, ActorKind
from opendmp.identity.ins import Gender, Ins, InsSystem, StrictTraits, check_traits_against_nir, normalise_name
from opendmp.identity.models import InsLookup, Patient, TraitsLookup
from opendmp.journal import service as journal
from opendmp.journal.models import GENESIS_HASH, JournalEntry, JournalHead
from opendmp.kit.errors import InvalidInput
from opendmp.kit.ids import new_id
from opendmp.notify.models import HOLDER, ChannelKind, ContactPoint, NotificationPreference, OutboxMessage
from opendmp.notify.service import normalise_email, normalise_phone
from opendmp.record import repository as repo
from opendmp.record.errors import (
    AmbiguousTraits,
    ChannelMismatch,
    InvalidConsent,
    InvalidTransition,
    ObjectionWindowClosed,
    RecordAlreadyExists,
    RecordClosed,
    RecordNotFound,
    RecordRefused,
    RetentionNotOver,
    StaleVersion,
    TooManyRepresentatives,
)
from opendmp.record.models import (
    Channel,
    CloseReason,
    HeirAccessRequest,
    LegalRepresentative,
    Record,
    RecordStatus,
)
from opendmp.stats import counters, ledger
from opendmp.stats.models import RemunerationEntry

OBJECTION_WINDOW = timedelta(weeks=6)  # opt-out: the person may object for six weeks
RETENTION = timedelta(days=3652)  # a closed record is archived ten years (CSP R1111-46)
DELETION_DEADLINE = timedelta(days=90)  # an express deletion request is honoured within 3 months
MAX_REPRESENTATIVES = 2
ADULT_AGE = 18
PHARMACY_STAFF = frozenset({PHARMACIST, "39"})  # pharmacists and pharmacy technicians at the counter
CONSENT_CLOCK_SKEW = timedelta(minutes=5)
CREDENTIALS_AT_OPENING = "credentials-at-opening"  # the system step's name in the journal


@dataclass(frozen=True, slots=True)
class RepresentativeIn:
    ins: Ins
    family: str
    given: str


@dataclass(frozen=True, slots=True)
class OpeningRequest:
    ins: Ins
    traits: StrictTraits
    channel: Channel | None = None
    consent_at: datetime | None = None
    consent_method: str | None = None
    residence_department: str | None = None
    representatives: tuple[RepresentativeIn, ...] = ()
    # (channel, address): an email or mobile number the opener checked with the person in front
    # of them; it becomes a verified contact point and receives the credentials.
    contacts: tuple[tuple[ChannelKind, str], ...] = ()


@dataclass(slots=True)
class PatientRecord:
    """A record with its holder's identity, as the edges show it."""

    record: Record
    patient: Patient
    representatives: list[LegalRepresentative] = field(default_factory=list)
    # The holder's login and activation code, issued at opening for the opener's letter (once).
    credentials: Credentials | None = None


def derive_channel(actor: Actor) -> Channel:
    """The channel follows from who opens (the ledger pays by channel, so it cannot be chosen)."""
    match actor.kind:
        case ActorKind.PATIENT:
            return Channel.PATIENT_ONLINE
        case ActorKind.COUNTER_AGENT:
            return Channel.INSURER_COUNTER
        case ActorKind.SOFTWARE:
            return Channel.ESTABLISHMENT
        case ActorKind.INSURER_FEED:
            return Channel.AUTOMATIC
        case ActorKind.PROFESSIONAL:
            if actor.profession in PHARMACY_STAFF:
                return Channel.PHARMACY
            if actor.profession in NURSES:
                return Channel.NURSE
            return Channel.HEALTH_PROFESSIONAL
    raise ChannelMismatch(f"a {actor.kind.value} does not open records", field="channel")


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


@dataclass(slots=True)
class OpeningPlan:
    """Every row one opening writes. Built by a pure function so that the bulk seeder writes
    exactly what `open_record` writes (tests/integration/test_seed.py proves it)."""

    record: dict[str, Any]
    patient: dict[str, Any]
    ins_lookup: dict[str, Any]
    traits_lookup: dict[str, Any]
    representatives: list[dict[str, Any]]
    authorisations: list[dict[str, Any]]
    ledger: list[dict[str, Any]]
    journal: list[dict[str, Any]]
    journal_head: dict[str, Any]
    opening: counters.OpeningKey  # the statistics counter it moves (no INS, no record id)
    opener: counters.OpenerKey | None = None  # a pharmacy or nurse equipped (statistics)


def plan_opening(
    actor: Actor,
    request: OpeningRequest,
    now: datetime,
    *,
    policy: OpeningPolicy,
    rules: Sequence[ledger.Rule],
    pharmacy_known: bool,
    record_id: uuid.UUID | None = None,
    organisation_kind: str | None = None,
) -> OpeningPlan:
    """Validate an opening and build its rows. Raises the domain error of the first rule broken."""
    channel = derive_channel(actor)
    if request.channel is not None and request.channel is not channel:
        raise ChannelMismatch(
            f"channel {request.channel.value} does not match the opener ({channel.value} expected)",
            field="channel",
        )
    traits = request.traits.normalised()
    check_traits_against_nir(request.ins.value, traits)
    if traits.birth_date > now.date():
        raise InvalidInput("the birth date is in the future", field="birthDate")
    if request.residence_department is not None and not geography.is_department(request.residence_department):
        raise InvalidInput(f"unknown department {request.residence_department!r}", field="residenceDepartment")
    if len(request.representatives) > MAX_REPRESENTATIVES:
        raise TooManyRepresentatives("a minor has at most two legal representatives", field="representative")

    consent_at, consent_method = request.consent_at, request.consent_method
    if channel is Channel.AUTOMATIC:
        if policy is not OpeningPolicy.OPT_OUT:
            raise ChannelMismatch("automatic opening needs the opt-out policy", field="channel")
        status, objection_deadline = RecordStatus.PENDING_OBJECTION, now + OBJECTION_WINDOW
        consent_at, consent_method = None, None  # no consent: the person may object instead
    else:
        status, objection_deadline = RecordStatus.ACTIVE, None
        if channel is Channel.PATIENT_ONLINE:
            consent_at, consent_method = consent_at or now, consent_method or "online"
        if consent_at is None:
            raise InvalidConsent("the patient's consent (its date) is required to open a record", field="consentDate")
        if consent_at > now + CONSENT_CLOCK_SKEW:
            raise InvalidConsent("the consent date is in the future", field="consentDate")
        consent_method = consent_method or "oral"

    rid = record_id or new_id()
    record = {
        "id": rid,
        "status": status.value,
        "version": 1,
        "opening_policy": policy.value,
        "channel": channel.value,
        "first_document_at": None,
        "opened_at": now,
        "opened_by_kind": actor.kind.value,
        "opened_by": actor.id,
        "opened_by_organisation": actor.organisation,
        "consent_at": consent_at,
        "consent_method": consent_method,
        "consent_collected_by": None if consent_at is None else actor.id,
        "objection_deadline": objection_deadline,
        "closed_at": None,
        "close_reason": None,
        "purge_after": None,
        "deletion_requested_at": None,
        "deletion_due": None,
        "suspended_at": None,
        "suspension_reason": None,
        "deceased_on": None,
        "merged_into": None,
        "purged_at": None,
        "updated_at": now,
    }
    patient = {
        "record_id": rid,
        "ins_system": request.ins.system.value,
        "ins_value": request.ins.value,
        "birth_family": traits.birth_family,
        "given_names": traits.given_names,
        "birth_date": traits.birth_date,
        "gender": traits.gender.value,
        "birthplace_code": traits.birthplace_code,
        "residence_department": request.residence_department,
        "updated_at": now,
    }
    representatives = [
        {
            "id": new_id(),
            "record_id": rid,
            "ins_system": r.ins.system.value,
            "ins_value": r.ins.value,
            "family": normalise_name(r.family),
            "given": normalise_name(r.given),
            "added_at": now,
            "ended_at": None,
        }
        for r in request.representatives
    ]
    events = [journal.Event("record:open", "record", str(rid), reason=f"channel={channel.value}")]
    authorisations: list[dict[str, Any]] = []
    if actor.rpps is not None:
        # The opener, with the patient present, joins the care team from the opening.
        authorisations.append(
            {
                "id": new_id(),
                "record_id": rid,
                "rpps": actor.rpps,
                "kind": AuthorisationKind.CARE_TEAM.value,
                "granted_at": now,
                "granted_via": "opening",
                "declared_by": actor.rpps,
                # A new record has no holder's default yet: the profession's or the platform's.
                "expires_at": window_end(now, window_days_for(actor.profession, None, None)),
                "revoked_at": None,
                "masked_access": False,
                "revoked_by": None,
            }
        )
        events.append(
            journal.Event("consent:authorise", "professional", actor.rpps, reason="opener-with-patient-present")
        )
    chain = journal.chain_of(rid)
    entries: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    for seq, event in enumerate(events, start=1):
        entry = journal.build_entry(chain, seq, prev, now, actor, event)
        entries.append(entry)
        prev = entry["hash"]
    return OpeningPlan(
        record=record,
        patient=patient,
        ins_lookup={"ins_system": request.ins.system.value, "ins_value": request.ins.value, "record_id": rid},
        traits_lookup={"digest": repo.traits_digest(traits), "record_id": rid},
        representatives=representatives,
        authorisations=authorisations,
        ledger=ledger.plan_entries(rules, actor, channel.value, rid, now, pharmacy_known),
        journal=entries,
        journal_head={"chain": chain, "seq": len(entries), "hash": prev, "checkpointed_seq": 0},
        opening=counters.opening_key(now, channel.value, request.residence_department, organisation_kind),
        opener=counters.opener_key(channel.value, actor, now),
    )


def write_plans(session: Session, plans: Sequence[OpeningPlan], *, count: bool = True) -> None:
    """Insert the rows of many openings, one statement per table, and move the statistics
    counters (unless `count` is False: the caller moves them later in its transaction).

    A few plans (`open_record` writes one) go through SQLAlchemy, whose IntegrityError the caller
    maps. A bulk batch (the seeder) skips SQLAlchemy's per-row work: COPY on PostgreSQL, the
    driver's executemany on SQLite, column by column conversions that give what the column
    types' bind processors give (checked against them on each batch, else they are used). The
    rows stored are the same; bench/dataset_digest.py compares both paths.
    """
    import operator
    from datetime import UTC
    from functools import partial

    from sqlalchemy import BigInteger, Date, DateTime, Integer, String, TypeDecorator, Uuid

    from opendmp.kit.base import UTCDateTime

    tables: list[tuple[Any, Callable[[OpeningPlan], list[dict[str, Any]]]]] = [
        (Record, lambda p: [p.record]),
        (Patient, lambda p: [p.patient]),
        (InsLookup, lambda p: [p.ins_lookup]),
        (TraitsLookup, lambda p: [p.traits_lookup]),
        (LegalRepresentative, lambda p: p.representatives),
        (Authorisation, lambda p: p.authorisations),
        (RemunerationEntry, lambda p: p.ledger),
        (JournalEntry, lambda p: p.journal),
        (JournalHead, lambda p: [p.journal_head]),
    ]
    connection = session.connection()
    dialect = connection.dialect
    sqlite = dialect.name == "sqlite"
    if len(plans) < 100 or dialect.name not in ("postgresql", "sqlite"):
        for model, rows_of in tables:
            rows = [row for plan in plans for row in rows_of(plan)]
            if rows:
                session.execute(insert(model), rows)
        if count:
            _count_openings(session, plans)
        return

    def fast(column_type: Any, present: list[Any]) -> list[Any] | None:
        """The values converted at C speed, or None when this column has no fast path."""
        kinds = set(map(type, present))
        if isinstance(column_type, UTCDateTime) and kinds == {datetime}:
            if set(map(operator.attrgetter("tzinfo"), present)) != {UTC}:
                return None  # naive (refused) or another offset (converted): the type's own way
            if not sqlite:
                return present  # already what process_bind_param returns
            isoformat = map(operator.methodcaller("isoformat", " ", "microseconds"), present)
            return list(map(operator.itemgetter(slice(0, 26)), isoformat))  # SQLite storage format
        if sqlite and isinstance(column_type, Uuid) and kinds == {uuid.UUID}:
            return list(map("{:032x}".format, map(operator.attrgetter("int"), present)))
        if sqlite and isinstance(column_type, Date) and kinds == {date}:
            return list(map(operator.methodcaller("isoformat"), present))
        return None

    def converted(column_type: Any, values: list[Any]) -> list[Any]:
        exact = column_type.dialect_impl(dialect).bind_processor(dialect)
        if exact is None:
            return values  # SQLAlchemy hands the value to the driver as it is
        present = list(filter(partial(operator.is_not, None), values))
        if not present:
            return values
        quick = fast(column_type, present)
        if quick is None or quick[0] != exact(present[0]):
            return [None if v is None else exact(v) for v in values]
        if len(present) == len(values):
            return quick
        it = iter(quick)
        return [None if v is None else next(it) for v in values]

    def binary_type(column_type: Any) -> str | None:
        """The PostgreSQL type of a column for binary COPY (None: copy the table as text)."""
        impl = column_type.impl if isinstance(column_type, TypeDecorator) else column_type
        for kind, name in pg_types:
            if isinstance(impl, kind):
                return name if kind is not DateTime or impl.timezone else "timestamp"
        return None

    pg_types: list[tuple[type[Any], str]] = [
        (Uuid, "uuid"),
        (String, "varchar"),
        (BigInteger, "int8"),
        (Integer, "int4"),
        (DateTime, "timestamptz"),
        (Date, "date"),
    ]
    quote = dialect.identifier_preparer.quote
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("no database connection")
    for model, rows_of in tables:
        rows = [row for plan in plans for row in rows_of(plan)]
        if not rows:
            continue
        table = model.__table__
        names = [column.name for column in table.columns]
        if set(rows[0]) != set(names):  # a column left to its default: SQLAlchemy fills it
            session.execute(insert(model), rows)
            continue
        columns = [converted(c.type, list(map(operator.itemgetter(c.name), rows))) for c in table.columns]
        values = list(zip(*columns, strict=True))
        listed = ", ".join(quote(name) for name in names)
        if sqlite:
            marks = ", ".join("?" * len(names))
            # Identifiers come from the models, quoted; values are bound.
            driver.executemany(f"INSERT INTO {quote(table.name)} ({listed}) VALUES ({marks})", values)  # noqa: S608
            continue
        types = [binary_type(c.type) for c in table.columns]
        binary = None not in types
        statement = f"COPY {quote(table.name)} ({listed}) FROM STDIN" + (" (FORMAT BINARY)" if binary else "")
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            if binary:
                copy.set_types(types)
            for row in values:
                copy.write_row(row)
    if count:
        _count_openings(session, plans)


def _count_openings(session: Session, plans: Sequence[OpeningPlan]) -> None:
    counters.add_openings(session, [plan.opening for plan in plans])
    counters.add_openers(session, [plan.opener for plan in plans if plan.opener is not None])


def open_record(
    session: Session,
    actor: Actor,
    request: OpeningRequest,
    now: datetime,
    *,
    policy: OpeningPolicy,
    secrets: AuthSecrets | None = None,
) -> PatientRecord:
    """Open a DMP for a person: one per INS, the channel derived from the opener, consent kept
    (or the objection window started under opt-out), the opener in the care team, the ledger fed.
    With the edge's `secrets`, the holder gets an identifier and an activation code in the same
    transaction: an opener facing the patient gets them for the credentials letter; for the
    insurer's batch and online openings a system step issues them, which the opener never sees.
    Either way they are sent too when the record has a verified contact; else the insurer's
    mailing posts them (`opendmp credentials letters`)."""
    access.require(session, actor, Action.RECORD_OPEN, NewRecord(request.ins), now)
    existing = repo.record_id_by_ins(session, request.ins)
    if existing is not None:
        _clear_purged_lookup(session, actor, request.ins, existing)
    rules = ledger.load_rules(session)
    known = ledger.known_pharmacies(session, [actor.organisation] if actor.organisation else [])
    plan = plan_opening(
        actor,
        request,
        now,
        policy=policy,
        rules=rules,
        pharmacy_known=actor.organisation in known,
        organisation_kind=counters.organisation_kind(session, actor.organisation),
    )
    try:
        with session.begin_nested():
            write_plans(session, [plan], count=False)
    except IntegrityError as error:  # a concurrent opening of the same INS won the race
        raise RecordAlreadyExists("this person already has a record", field="patient.identifier") from error
    view = _load(session, plan.record["id"])
    if request.contacts:
        _add_checked_contacts(session, actor, view.record.id, request.contacts, now)
    if secrets is not None and actor.kind in letters.LETTER_OPENERS:
        view.credentials = patients.issue_credentials(session, actor, view.record.id, now, secrets, send=True)
    elif secrets is not None:
        system = Actor.system(CREDENTIALS_AT_OPENING)
        patients.issue_credentials(session, system, view.record.id, now, secrets, send=True)
    # Last, so that the counter's row stays locked only from here to the commit.
    _count_openings(session, [plan])
    return view


def _add_checked_contacts(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    contacts: tuple[tuple[ChannelKind, str], ...],
    now: datetime,
) -> None:
    if actor.kind not in letters.LETTER_OPENERS:
        raise InvalidInput("only an opener facing the person checks their email or phone", field="contact")
    for channel, address in dict(contacts).items():  # one per channel: the last given wins
        value = normalise_email(address) if channel is ChannelKind.EMAIL else normalise_phone(address)
        session.add(
            ContactPoint(
                record_id=record_id,
                person=HOLDER,
                channel=channel.value,
                address=value,
                verified_at=now,
                updated_at=now,
            )
        )
        event = journal.Event(
            Action.IDENTITY_UPDATE.value, "record", str(record_id), reason=f"contact:{channel.value}:checked-at-opening"
        )
        journal.append(session, actor, event, record_id=record_id, at=now)
    session.flush()


def _clear_purged_lookup(session: Session, actor: Actor, ins: Ins, record_id: uuid.UUID) -> None:
    """A purged record leaves its INS behind so that the person's refusal holds: the insurer's
    batch may not open it again; an opening with the person's consent starts a new record."""
    record = repo.get_record(session, record_id)
    if record is None or record.status != RecordStatus.PURGED:
        raise RecordAlreadyExists("this person already has a record", field="patient.identifier")
    if actor.kind is ActorKind.INSURER_FEED:
        raise RecordRefused(
            "the person objected to or deleted their record: only they can open a new one", field="patient.identifier"
        )
    session.execute(delete(InsLookup).where(InsLookup.ins_system == ins.system.value, InsLookup.ins_value == ins.value))


def _load(session: Session, record_id: uuid.UUID) -> PatientRecord:
    record = repo.get_record(session, record_id)
    patient = repo.get_patient(session, record_id)
    if record is None or patient is None:
        raise RecordNotFound("no such record")
    return PatientRecord(record, patient, repo.active_representatives(session, record_id))


def _visible(session: Session, record_id: uuid.UUID, *, for_update: bool = False) -> tuple[Record, Patient]:
    """A record that exists for the edges: purged and merged records are gone."""
    return repo.visible_record(session, record_id, for_update=for_update)


def _lookup(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime, how: str) -> PatientRecord:
    record, patient = _visible(session, record_id)
    representatives = repo.active_representatives(session, record_id)
    facts = repo.load_facts(session, record, patient, now, representatives)
    decision = access.require(session, actor, Action.RECORD_LOOKUP, facts, now)
    journal.append(
        session,
        actor,
        journal.Event("record:lookup", "record", str(record_id), reason=f"{how};via={decision.via}"),
        record_id=record_id,
        at=now,
    )
    return PatientRecord(record, patient, representatives)


def get_record(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime) -> PatientRecord:
    return _lookup(session, actor, record_id, now, "read")


def _journal_search_miss(session: Session, actor: Actor, how: str, now: datetime) -> None:
    # The searched INS or traits are not written: the journal names people only as actors.
    journal.append(
        session, actor, journal.Event("record:search", "record", None, reason=f"{how};no-match"), record_id=None, at=now
    )


def find_by_ins(session: Session, actor: Actor, ins: Ins, now: datetime) -> PatientRecord | None:
    record_id = repo.record_id_by_ins(session, ins)
    if record_id is None:
        _journal_search_miss(session, actor, "ins", now)
        return None
    try:
        return _lookup(session, actor, record_id, now, "search-ins")
    except RecordNotFound:
        _journal_search_miss(session, actor, "ins", now)
        return None


def find_by_traits(session: Session, actor: Actor, traits: StrictTraits, now: datetime) -> PatientRecord | None:
    """Exact match on all five strict traits; two matches answer nothing (only the INS decides)."""
    ids = repo.record_ids_by_traits(session, traits)
    if not ids:
        _journal_search_miss(session, actor, "traits", now)
        return None
    if len(ids) > 1:
        journal.append(
            session,
            actor,
            journal.Event("record:search", "record", None, reason="traits;ambiguous"),
            record_id=None,
            at=now,
        )
        raise AmbiguousTraits("several records match these traits: search by INS")
    try:
        return _lookup(session, actor, ids[0], now, "search-traits")
    except RecordNotFound:
        _journal_search_miss(session, actor, "traits", now)
        return None


def _transition(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    action: Action,
    now: datetime,
    change: Callable[[Record, Patient], str | None],
    *,
    if_match: int | None = None,
) -> PatientRecord:
    """Common frame of every lifecycle step: lock, ask, check version, change, journal."""
    record, patient = _visible(session, record_id, for_update=True)
    facts = repo.load_facts(session, record, patient, now)
    access.require(session, actor, action, facts, now)
    if if_match is not None and if_match != record.version:
        raise StaleVersion(f"the record changed (version {record.version}, not {if_match})")
    reason = change(record, patient)
    record.version += 1
    record.updated_at = now
    journal.append(
        session,
        actor,
        journal.Event(action.value, "record", str(record_id), reason=reason),
        record_id=record_id,
        at=now,
    )
    session.flush()
    return PatientRecord(record, patient, repo.active_representatives(session, record_id))


_GONE = (RecordStatus.PURGED, RecordStatus.MERGED)


def close_record(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    now: datetime,
    reason: CloseReason = CloseReason.HOLDER_REQUEST,
    *,
    if_match: int | None = None,
) -> PatientRecord:
    """Closing archives the record for ten years, then the purge job deletes it."""

    def change(record: Record, _patient: Patient) -> str:
        if record.status in (RecordStatus.CLOSED, RecordStatus.OBJECTED, RecordStatus.DELETION_REQUESTED):
            raise RecordClosed("the record is already closed")
        record.status = RecordStatus.CLOSED.value
        record.closed_at, record.close_reason = now, reason.value
        record.purge_after = now + RETENTION
        return reason.value

    return _transition(session, actor, record_id, Action.RECORD_CLOSE, now, change, if_match=if_match)


def reopen_record(
    session: Session, actor: Actor, record_id: uuid.UUID, now: datetime, *, if_match: int | None = None
) -> PatientRecord:
    """Reopening restores the archive; a suspension is lifted only by an operator."""

    def change(record: Record, _patient: Patient) -> str:
        status = RecordStatus(record.status)
        if status in (RecordStatus.ACTIVE, RecordStatus.PENDING_OBJECTION):
            raise InvalidTransition("the record is open already")
        if record.deceased_on is not None:
            raise InvalidTransition("the holder has died: the record stays closed")
        if status is RecordStatus.SUSPENDED and actor.kind is not ActorKind.OPERATOR:
            raise InvalidTransition("a suspension is lifted by the insurer's operators only")
        record.status = RecordStatus.ACTIVE.value
        record.closed_at = record.close_reason = record.purge_after = None
        record.deletion_requested_at = record.deletion_due = None
        record.suspended_at = record.suspension_reason = None
        record.objection_deadline = None
        return f"from={status.value}"

    return _transition(session, actor, record_id, Action.RECORD_REOPEN, now, change, if_match=if_match)


def object_to_record(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime) -> PatientRecord:
    """Under opt-out the person may refuse the record during the six weeks after its creation.
    The record is then purged by the next purge job; its INS stays known (see
    _clear_purged_lookup) so that the insurer's batch does not open it again."""

    def change(record: Record, _patient: Patient) -> str:
        if record.status != RecordStatus.PENDING_OBJECTION or (
            record.objection_deadline is not None and now >= record.objection_deadline
        ):
            raise ObjectionWindowClosed("the objection window is over: close the record or ask for deletion")
        record.status = RecordStatus.OBJECTED.value
        record.closed_at, record.close_reason = now, "objection"
        return "objection"

    return _transition(session, actor, record_id, Action.RECORD_OBJECT, now, change)


def request_deletion(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime) -> PatientRecord:
    def change(record: Record, _patient: Patient) -> str:
        if record.status in (RecordStatus.DELETION_REQUESTED, RecordStatus.OBJECTED):
            raise InvalidTransition("the deletion is already under way")
        record.status = RecordStatus.DELETION_REQUESTED.value
        record.deletion_requested_at, record.deletion_due = now, now + DELETION_DEADLINE
        return f"due={record.deletion_due.date().isoformat()}"

    return _transition(session, actor, record_id, Action.RECORD_REQUEST_DELETION, now, change)


def suspend_record(session: Session, actor: Actor, record_id: uuid.UUID, reason: str, now: datetime) -> PatientRecord:
    def change(record: Record, _patient: Patient) -> str:
        if record.status not in (RecordStatus.ACTIVE, RecordStatus.PENDING_OBJECTION):
            raise InvalidTransition(f"a {record.status} record cannot be suspended")
        if not reason.strip():
            raise InvalidInput("a suspension needs a reason", field="reason")
        record.status = RecordStatus.SUSPENDED.value
        record.suspended_at, record.suspension_reason = now, reason.strip()[:200]
        return "suspension"

    return _transition(session, actor, record_id, Action.RECORD_SUSPEND, now, change)


def purge_record(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime) -> uuid.UUID:
    """Destroy the identity and everything the record holds; keep a tombstone, the ledger and the
    journal (the trace of who did what outlives the content)."""

    def change(record: Record, _patient: Patient) -> str:
        status = RecordStatus(record.status)
        if status is RecordStatus.CLOSED and (record.purge_after is None or record.purge_after > now):
            raise RetentionNotOver("a closed record is kept ten years before it is purged")
        if status not in (RecordStatus.CLOSED, RecordStatus.OBJECTED, RecordStatus.DELETION_REQUESTED):
            raise InvalidTransition(f"a {status.value} record is not purged")
        record.status = RecordStatus.PURGED.value
        record.purged_at = now
        return f"from={status.value}"

    _transition(session, actor, record_id, Action.RECORD_PURGE, now, change)
    erase_record_content(session, record_id)
    return record_id


def erase_record_content(session: Session, record_id: uuid.UUID) -> None:
    """What a purge deletes: the identity and everything the record holds, leaving the tombstone,
    the ledger and the journal. Also replayed on a restored database (backup.py) for records
    purged after the backup was taken."""
    # The INS lookup stays (pointing at the tombstone): see _clear_purged_lookup. The documents'
    # bytes are shredded with the record's data key once this commits (jobs.shred).
    from opendmp.establishment.models import FeedSubmission
    from opendmp.summary.models import ClinicalSummary

    purged: tuple[Any, ...] = (
        ContactPoint,
        NotificationPreference,
        OutboxMessage,  # unsent messages about a purged record are not sent
        TraitsLookup,
        LegalRepresentative,
        Authorisation,
        DocumentAuthor,
        DocumentLookup,
        DocumentExam,
        ClinicalSummary,  # the VSM/DLU structured copies, sealed (before their documents)
        FeedSubmission,  # answers kept for establishment feeds' retries
        Document,
        SubmissionSet,
        ReimbursementBatch,  # sealed claim lines (their key is shredded too)
        ReimbursementClaim,  # the claim-id index: which claims this record had
        ContentRow,  # the patient's sealed content (expression libre, vaccinations, directives' answers)
    )
    for model in purged:
        session.execute(delete(model).where(model.record_id == record_id))
    session.execute(delete(Patient).where(Patient.record_id == record_id))


def activate_record(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime) -> PatientRecord:
    def change(record: Record, _patient: Patient) -> str:
        if record.status != RecordStatus.PENDING_OBJECTION or (
            record.objection_deadline is not None and record.objection_deadline > now
        ):
            raise InvalidTransition("the objection window is still open")
        record.status = RecordStatus.ACTIVE.value
        return "objection-window-ended"

    return _transition(session, actor, record_id, Action.RECORD_ACTIVATE, now, change)


def add_representative(
    session: Session, actor: Actor, record_id: uuid.UUID, rep: RepresentativeIn, now: datetime
) -> PatientRecord:
    def change(record: Record, patient: Patient) -> str:
        if age_on(patient.birth_date, now.date()) >= ADULT_AGE:
            raise InvalidTransition("the holder is of age: no legal representative")
        current = repo.active_representatives(session, record.id)
        if any(r.ins_value == rep.ins.value and r.ins_system == rep.ins.system.value for r in current):
            raise InvalidTransition("this person already represents the holder")
        if len(current) >= MAX_REPRESENTATIVES:
            raise TooManyRepresentatives("a minor has at most two legal representatives")
        session.add(
            LegalRepresentative(
                record_id=record.id,
                ins_system=rep.ins.system.value,
                ins_value=rep.ins.value,
                family=normalise_name(rep.family),
                given=normalise_name(rep.given),
                added_at=now,
            )
        )
        return "representative-added"

    return _transition(session, actor, record_id, Action.RECORD_MANAGE_REPRESENTATIVES, now, change)


def end_minority(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime) -> PatientRecord:
    """At 18 the holder alone exercises the rights: the representatives' access ends."""

    def change(record: Record, patient: Patient) -> str:
        if age_on(patient.birth_date, now.date()) < ADULT_AGE:
            raise InvalidTransition("the holder is still a minor")
        session.execute(
            update(LegalRepresentative)
            .where(LegalRepresentative.record_id == record.id, LegalRepresentative.ended_at.is_(None))
            .values(ended_at=now)
        )
        return "holder-came-of-age"

    return _transition(session, actor, record_id, Action.RECORD_MANAGE_REPRESENTATIVES, now, change)


def declare_death(session: Session, actor: Actor, record_id: uuid.UUID, died_on: date, now: datetime) -> PatientRecord:
    def change(record: Record, patient: Patient) -> str:
        if died_on > now.date() or died_on < patient.birth_date:
            raise InvalidInput("the date of death is impossible", field="date")
        if record.deceased_on is not None:
            raise InvalidTransition("the death is already recorded")
        record.deceased_on = died_on
        if record.status != RecordStatus.CLOSED:
            record.status = RecordStatus.CLOSED.value
            record.closed_at, record.close_reason = now, CloseReason.DEATH.value
            record.purge_after = now + RETENTION
        return "death"

    return _transition(session, actor, record_id, Action.RECORD_DECLARE_DEATH, now, change)


def record_heir_request(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    requester_name: str,
    relationship: str,
    reason: str,
    now: datetime,
) -> uuid.UUID:
    """Heirs' requests are recorded for an operator to examine (CSP L1110-4 V)."""
    request_id = new_id()

    def change(record: Record, _patient: Patient) -> str:
        if record.deceased_on is None:
            raise InvalidTransition("heirs may ask only after the holder's death")
        if not requester_name.strip() or not relationship.strip():
            raise InvalidInput("the heir's name and relationship are required", field="requester")
        session.add(
            HeirAccessRequest(
                id=request_id,
                record_id=record.id,
                requester_name=requester_name.strip(),
                relationship=relationship.strip(),
                reason=reason.strip()[:500],
                requested_at=now,
            )
        )
        return "heir-request"

    _transition(session, actor, record_id, Action.RECORD_HEIR_REQUEST, now, change)
    return request_id


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """An operator's correction: a NIR replacing an NIA, or corrected strict traits."""

    new_ins: Ins | None = None
    traits: StrictTraits | None = None
    residence_department: str | None = None


def update_identity(
    session: Session, actor: Actor, record_id: uuid.UUID, change_in: IdentityChange, now: datetime
) -> PatientRecord:
    """Identity corrections keep the old INS resolvable, so nothing filed under it is lost."""

    def change(record: Record, patient: Patient) -> str:
        ins = change_in.new_ins or Ins(InsSystem(patient.ins_system), patient.ins_value)
        traits = (
            change_in.traits
            or StrictTraits(
                patient.birth_family,
                patient.given_names,
                patient.birth_date,
                Gender(patient.gender),
                patient.birthplace_code,
            )
        ).normalised()
        check_traits_against_nir(ins.value, traits)
        what: list[str] = []
        if change_in.new_ins is not None and (ins.system.value, ins.value) != (patient.ins_system, patient.ins_value):
            owner = repo.record_id_by_ins(session, ins)
            if owner is not None and owner != record.id:
                raise RecordAlreadyExists("another record holds this INS: merge the two records", field="identifier")
            if owner is None:
                session.add(InsLookup(ins_system=ins.system.value, ins_value=ins.value, record_id=record.id))
            what.append(f"ins:{patient.ins_system}->{ins.system.value}")
            patient.ins_system, patient.ins_value = ins.system.value, ins.value
        if change_in.traits is not None:
            session.execute(delete(TraitsLookup).where(TraitsLookup.record_id == record.id))
            session.add(TraitsLookup(digest=repo.traits_digest(traits), record_id=record.id))
            patient.birth_family, patient.given_names = traits.birth_family, traits.given_names
            patient.birth_date, patient.gender = traits.birth_date, traits.gender.value
            patient.birthplace_code = traits.birthplace_code
            what.append("traits")
        if change_in.residence_department is not None:
            if not geography.is_department(change_in.residence_department):
                raise InvalidInput("unknown department", field="residenceDepartment")
            patient.residence_department = change_in.residence_department
            what.append("residence")
        if not what:
            raise InvalidInput("nothing to change", field="identity")
        patient.updated_at = now
        return ",".join(what)

    return _transition(session, actor, record_id, Action.IDENTITY_UPDATE, now, change)


def merge_records(
    session: Session,
    actor: Actor,
    survivor_id: uuid.UUID,
    duplicate_id: uuid.UUID,
    now: datetime,
    vault: Vault,
) -> PatientRecord:
    """Two records of one person: everything of the duplicate moves to the survivor, the
    duplicate's INS and traits resolve to the survivor, and the duplicate stays as a tombstone."""
    if survivor_id == duplicate_id:
        raise InvalidInput("a record cannot be merged into itself", field="duplicate")
    survivor = _visible(session, survivor_id, for_update=True)
    duplicate = _visible(session, duplicate_id, for_update=True)
    for record, patient in (survivor, duplicate):
        access.require(session, actor, Action.IDENTITY_MERGE, repo.load_facts(session, record, patient, now), now)
    if survivor[1].birth_date != duplicate[1].birth_date or survivor[1].gender != duplicate[1].gender:
        raise InvalidTransition("the two records do not describe the same person (birth date or sex differ)")
    # Documents move with their bytes re-encrypted under the survivor's data key.
    for document in session.execute(select(Document).where(Document.record_id == duplicate_id)).scalars():
        if document.blob_key.startswith("generated:"):
            continue  # the reimbursement history: its claims move below
        sealed = vault.reseal(document, survivor_id)
        document.record_id, document.blob_key = survivor_id, sealed.key
    from opendmp.feed import service as reimbursements

    reimbursements.merge_history(session, vault.keys, duplicate_id, survivor_id, now)
    from opendmp.establishment.models import FeedSubmission
    from opendmp.summary.service import merge_summaries

    merge_summaries(session, vault.keys, duplicate_id, survivor_id)
    from opendmp.content.service import merge_content

    merge_content(session, vault.keys, duplicate_id, survivor_id)
    moved: tuple[Any, ...] = (
        FeedSubmission,
        LegalRepresentative,
        Authorisation,
        RemunerationEntry,
        DocumentAuthor,
        DocumentLookup,
        DocumentExam,
        SubmissionSet,
    )
    # Identical traits already point at the survivor: drop the duplicate's copy, move the rest.
    survivor_digests = select(TraitsLookup.digest).where(TraitsLookup.record_id == survivor_id)
    session.execute(
        delete(TraitsLookup).where(TraitsLookup.record_id == duplicate_id, TraitsLookup.digest.in_(survivor_digests))
    )
    for model in (*moved, InsLookup, TraitsLookup):
        session.execute(update(model).where(model.record_id == duplicate_id).values(record_id=survivor_id))
    dup_record = duplicate[0]
    dup_record.status, dup_record.merged_into = RecordStatus.MERGED.value, survivor_id
    dup_record.version += 1
    dup_record.updated_at = now
    survivor[0].version += 1
    survivor[0].updated_at = now
    journal.append(
        session,
        actor,
        journal.Event("identity:merge", "record", str(survivor_id), reason="merged-away"),
        record_id=duplicate_id,
        at=now,
    )
    journal.append(
        session,
        actor,
        journal.Event("identity:merge", "record", str(duplicate_id), reason="absorbed"),
        record_id=survivor_id,
        at=now,
    )
    session.flush()
    return PatientRecord(survivor[0], survivor[1], repo.active_representatives(session, survivor_id))
