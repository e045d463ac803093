"""Notify people of what happens to a record, and manage where and how they are reached.

`notify_holder` and `notify_professional` are called by other services inside their own
transaction, with their session: they add outbox rows and never commit, so an event that rolls
back sends nothing and an event that commits cannot lose its notification. The worker
(notify.worker) delivers the rows later.

Who receives a record's notifications (docs/decisions/0012-notification-outbox.md):
- the holder, at their verified contact points;
- a minor's current legal representatives (CSP L1111-19: they exercise the holder's rights), at
  their own verified contact points, except about what is hidden from them
  (INVISIBLE_REPRESENTANTS_LEGAUX: the caller passes include_representatives=False);
- nobody for a deceased holder, or a record objected to, merged or purged.
Channels per category are the holder's preferences; without one, DEFAULT_CHANNELS apply, and a
person without a verified address on those channels gets the message on the other one.
Emergency accesses cannot be turned off: with no usable chosen channel, every verified one is used.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action, RecordFacts
from opendmp.identity.actor import Actor
from opendmp.identity.service import validate_rpps
from opendmp.journal import service as journal
from opendmp.notify.errors import (
    InvalidContact,
    MessageNotFound,
    NotificationRequired,
    UnknownRepresentative,
)
from opendmp.notify.models import (
    HOLDER,
    ContactPoint,
    NotificationPreference,
    OutboxMessage,
    OutboxStatus,
    ProfessionalContact,
    RecipientKind,
)
from opendmp.notify.models import Category as Category  # the vocabulary of callers, re-exported
from opendmp.notify.models import ChannelKind as ChannelKind
from opendmp.notify.templates import clean_params, render
from opendmp.record import repository as records_repo
from opendmp.record.models import Record, RecordStatus

# Without a preference, each category goes by email (by SMS to whoever has no verified email);
# emergency accesses go by both.
DEFAULT_CHANNELS: dict[Category, tuple[ChannelKind, ...]] = {
    Category.NEW_DOCUMENT: (ChannelKind.EMAIL,),
    Category.FIRST_ACCESS: (ChannelKind.EMAIL,),
    Category.EMERGENCY_ACCESS: (ChannelKind.EMAIL, ChannelKind.SMS),
    Category.CONSENT_CHANGE: (ChannelKind.EMAIL,),
    Category.VSM_REMINDER: (ChannelKind.EMAIL,),
}
ALWAYS_ON = frozenset({Category.EMERGENCY_ACCESS})
SILENT_STATUSES = frozenset({RecordStatus.OBJECTED, RecordStatus.MERGED, RecordStatus.PURGED})

Params = Mapping[str, str | int | None]


# ---------------------------------------------------------------- the outbox, for other services


def notify_holder(
    session: Session,
    record_id: uuid.UUID,
    category: Category | str,
    params: Params,
    at: datetime,
    *,
    include_representatives: bool = True,
) -> list[uuid.UUID]:
    """Queue the notification of `category` to the holder (and the minor holder's legal
    representatives) in the caller's transaction. Returns the outbox ids (none when nobody is
    reachable or the preferences say none)."""
    category = Category(category)
    cleaned = clean_params(category, params)
    record = session.get(Record, record_id)
    if record is None or record.status in SILENT_STATUSES or record.deceased_on is not None:
        return []
    contacts = session.execute(
        select(ContactPoint).where(ContactPoint.record_id == record_id, ContactPoint.verified_at.is_not(None))
    ).scalars()
    by_person: dict[str, dict[ChannelKind, str]] = {}
    for contact in contacts:
        by_person.setdefault(contact.person, {})[ChannelKind(contact.channel)] = contact.address
    people = [(RecipientKind.HOLDER, HOLDER)]
    holder_name = None
    if include_representatives:
        representatives = records_repo.active_representatives(session, record_id)
        people += [(RecipientKind.REPRESENTATIVE, str(r.id)) for r in representatives]
        if representatives:
            patient = records_repo.get_patient(session, record_id)
            holder_name = patient.given_names.split()[0].title() if patient and patient.given_names else None
    preference = session.get(NotificationPreference, (record_id, category.value))
    ids: list[uuid.UUID] = []
    for kind, person in people:
        addresses = by_person.get(person, {})
        for channel in channels_for(category, preference, addresses):
            rendered = render(category, kind, channel, cleaned, holder_name=holder_name)
            ids.append(
                _queue(
                    session,
                    record_id=record_id,
                    category=category,
                    recipient_kind=kind,
                    recipient_ref=None if kind is RecipientKind.HOLDER else person,
                    channel=channel,
                    address=addresses[channel],
                    subject=rendered.subject,
                    body=rendered.body,
                    at=at,
                )
            )
    return ids


def notify_professional(
    session: Session,
    rpps: str,
    category: Category | str,
    params: Params,
    at: datetime,
    *,
    record_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Queue a message to a professional's secure messaging address, if one is known (e.g. the
    médecin traitant, of an emergency access: category "emergency-access", params professional,
    mode, patient). `record_id` ties the message to the record it concerns."""
    category = Category(category)
    cleaned = clean_params(category, params)
    contact = session.get(ProfessionalContact, rpps)
    if contact is None:
        return []
    rendered = render(category, RecipientKind.PROFESSIONAL, ChannelKind.EMAIL, cleaned)
    return [
        _queue(
            session,
            record_id=record_id,
            category=category,
            recipient_kind=RecipientKind.PROFESSIONAL,
            recipient_ref=rpps,
            channel=ChannelKind.EMAIL,
            address=contact.email,
            subject=rendered.subject,
            body=rendered.body,
            at=at,
        )
    ]


def channels_for(
    category: Category, preference: NotificationPreference | None, addresses: Mapping[ChannelKind, str]
) -> list[ChannelKind]:
    """The channels one person is reached on for `category`, given their verified addresses."""
    if preference is not None:
        chosen = [c for c in ChannelKind if getattr(preference, c.value)]
        usable = [c for c in chosen if c in addresses]
        if usable or category not in ALWAYS_ON:
            return usable
        return [c for c in ChannelKind if c in addresses]
    usable = [c for c in DEFAULT_CHANNELS[category] if c in addresses]
    return usable or [c for c in ChannelKind if c in addresses][:1]


def _queue(
    session: Session,
    *,
    record_id: uuid.UUID | None,
    category: Category,
    recipient_kind: RecipientKind,
    recipient_ref: str | None,
    channel: ChannelKind,
    address: str,
    subject: str | None,
    body: str,
    at: datetime,
) -> uuid.UUID:
    message = OutboxMessage(
        id=uuid.uuid4(),
        record_id=record_id,
        category=category.value,
        recipient_kind=recipient_kind.value,
        recipient_ref=recipient_ref,
        channel=channel.value,
        address=address,
        subject=subject,
        body=body,
        status=OutboxStatus.PENDING.value,
        attempts=0,
        created_at=at,
        next_attempt_at=at,
    )
    session.add(message)
    return message.id


# ---------------------------------------------------------------- contacts and preferences

_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\]+")
_PHONE_NOISE = re.compile(r"[\s.\-()/]")


def normalise_email(text: str) -> str:
    value = text.strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidContact("not an email address", field="email")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalise_phone(text: str) -> str:
    """A mobile number in E.164 (+33612345678); French national forms (06…, 0033…) accepted."""
    value = _PHONE_NOISE.sub("", text.strip())
    if value.startswith("00"):
        value = "+" + value[2:]
    if re.fullmatch(r"0[1-9]\d{8}", value):
        value = "+33" + value[1:]
    if not re.fullmatch(r"\+[1-9]\d{7,14}", value):
        raise InvalidContact("not a phone number (E.164 or 10 French digits)", field="phone")
    if value.startswith("+33") and value[3] not in "67":
        raise InvalidContact("a French mobile number starts with 06 or 07", field="phone")
    return value


def _facts(session: Session, record_id: uuid.UUID, at: datetime) -> RecordFacts:
    return records_repo.visible_facts(session, record_id, at)[1]


def _person(session: Session, record_id: uuid.UUID, representative_id: uuid.UUID | None) -> str:
    if representative_id is None:
        return HOLDER
    if representative_id not in {r.id for r in records_repo.active_representatives(session, record_id)}:
        raise UnknownRepresentative("no current legal representative with this id", field="representative")
    return str(representative_id)


def set_contact(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    channel: ChannelKind,
    address: str,
    at: datetime,
    *,
    verified: bool = True,
    representative_id: uuid.UUID | None = None,
) -> ContactPoint:
    """Set the holder's (or a representative's) email or mobile number. An operator marks it
    verified after checking it with the person; the journal records the change, not the address."""
    access.require(session, actor, Action.IDENTITY_UPDATE, _facts(session, record_id, at), at)
    value = normalise_email(address) if channel is ChannelKind.EMAIL else normalise_phone(address)
    person = _person(session, record_id, representative_id)
    contact = session.execute(
        select(ContactPoint).where(
            ContactPoint.record_id == record_id, ContactPoint.person == person, ContactPoint.channel == channel.value
        )
    ).scalar_one_or_none()
    if contact is None:
        contact = ContactPoint(record_id=record_id, person=person, channel=channel.value)
        session.add(contact)
    if verified:
        contact.verified_at = at
    elif contact.address != value:
        contact.verified_at = None  # a new address is unverified until checked
    contact.address = value
    contact.updated_at = at
    _journal(
        session, actor, record_id, Action.IDENTITY_UPDATE, f"contact:{channel.value}:set;person={_who(person)}", at
    )
    session.flush()
    return contact


def remove_contact(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    channel: ChannelKind,
    at: datetime,
    *,
    representative_id: uuid.UUID | None = None,
) -> bool:
    access.require(session, actor, Action.IDENTITY_UPDATE, _facts(session, record_id, at), at)
    person = HOLDER if representative_id is None else str(representative_id)
    contact = session.execute(
        select(ContactPoint).where(
            ContactPoint.record_id == record_id, ContactPoint.person == person, ContactPoint.channel == channel.value
        )
    ).scalar_one_or_none()
    if contact is None:
        return False
    session.delete(contact)
    _journal(
        session, actor, record_id, Action.IDENTITY_UPDATE, f"contact:{channel.value}:removed;person={_who(person)}", at
    )
    session.flush()
    return True


def contacts_of(session: Session, record_id: uuid.UUID) -> list[ContactPoint]:
    return list(
        session.execute(
            select(ContactPoint)
            .where(ContactPoint.record_id == record_id)
            .order_by(ContactPoint.person, ContactPoint.channel)
        ).scalars()
    )


def set_preference(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    category: Category | str,
    channels: Collection[ChannelKind],
    at: datetime,
) -> NotificationPreference:
    """The holder's (or a representative's) choice of channels for one category; none = silence,
    except for emergency accesses."""
    category = Category(category)
    access.require(session, actor, Action.CONSENT_MANAGE, _facts(session, record_id, at), at)
    if not channels and category in ALWAYS_ON:
        raise NotificationRequired("emergency accesses are always notified: choose email, SMS or both")
    preference = session.get(NotificationPreference, (record_id, category.value))
    if preference is None:
        preference = NotificationPreference(record_id=record_id, category=category.value)
        session.add(preference)
    preference.email = ChannelKind.EMAIL in channels
    preference.sms = ChannelKind.SMS in channels
    preference.updated_at = at
    chosen = ",".join(sorted(c.value for c in channels)) or "none"
    _journal(session, actor, record_id, Action.CONSENT_MANAGE, f"notify:{category.value}={chosen}", at)
    session.flush()
    return preference


def preferences_of(session: Session, record_id: uuid.UUID) -> dict[Category, tuple[ChannelKind, ...] | None]:
    """Each category's chosen channels, or None where the defaults apply."""
    rows = {
        p.category: p
        for p in session.execute(
            select(NotificationPreference).where(NotificationPreference.record_id == record_id)
        ).scalars()
    }
    return {
        category: tuple(c for c in ChannelKind if getattr(rows[category.value], c.value))
        if category.value in rows
        else None
        for category in Category
    }


def set_professional_contact(session: Session, actor: Actor, rpps: str, email: str, at: datetime) -> None:
    """A professional's secure messaging (MSSanté) address, kept by the directory's operator."""
    access.require(session, actor, Action.DIRECTORY_ADMIN, None, at)
    rpps = validate_rpps(rpps)
    value = normalise_email(email)
    contact = session.get(ProfessionalContact, rpps)
    if contact is None:
        session.add(ProfessionalContact(rpps=rpps, email=value, updated_at=at))
    else:
        contact.email, contact.updated_at = value, at
    journal.append(
        session,
        actor,
        journal.Event("directory:professional", "professional", rpps, reason="contact:email:set"),
        record_id=None,
        at=at,
    )
    session.flush()


def _who(person: str) -> str:
    return HOLDER if person == HOLDER else f"representative:{person}"


def _journal(session: Session, actor: Actor, record_id: uuid.UUID, action: Action, reason: str, at: datetime) -> None:
    journal.append(
        session, actor, journal.Event(action.value, "record", str(record_id), reason=reason), record_id=record_id, at=at
    )


# ---------------------------------------------------------------- operators: failures


@dataclass(frozen=True, slots=True)
class FailedMessage:
    id: uuid.UUID
    record_id: uuid.UUID | None
    category: str
    channel: str
    address: str  # masked: operators see enough to recognise it, not the whole address
    attempts: int
    created_at: datetime
    last_error: str | None


def mask_address(address: str) -> str:
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return f"{address[:4]}*****{address[-2:]}"


def failed_messages(session: Session, limit: int = 100) -> list[FailedMessage]:
    rows = session.execute(
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.FAILED.value)
        .order_by(OutboxMessage.created_at)
        .limit(limit)
    ).scalars()
    return [
        FailedMessage(
            m.id, m.record_id, m.category, m.channel, mask_address(m.address), m.attempts, m.created_at, m.last_error
        )
        for m in rows
    ]


def retry_failed(session: Session, message_id: uuid.UUID, at: datetime) -> None:
    """Give a failed message a fresh set of attempts (after the operator fixed the cause)."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.status != OutboxStatus.FAILED.value:
        raise MessageNotFound("no failed message with this id")
    message.status = OutboxStatus.PENDING.value
    message.attempts = 0
    message.next_attempt_at = at
    message.claimed_by = None
    session.flush()
