"""Patients' logins: credentials at opening, activation, password + one-time code (or a TOTP
app), recovery, password change, disabling. Services only: they take a Session, the raw inputs
(or the Actor of an agent) and AuthSecrets, flush and never commit; the web edge owns the rest.

Rules (DOMAIN "Authentication"; docs/decisions/0016-patient-authentication.md):
- the identifier is random and human-typable, never derived from the NIR; the provisional
  activation code is valid six weeks, single use, kept as a keyed digest;
- activation: code + NIR + (card serial or birth date) → a password → a phone or email proven
  by a code → the account is active;
- login: identifier + password (Argon2id), then a 6-digit code by SMS or email (10 minutes at
  most, single use, a new one replaces the previous) or a TOTP app;
- failures count per login subject (auth/throttle.py); past five, attempts wait before they are
  evaluated; a recovery clears the count. Unknown identifiers cost the same Argon2id check and
  get the same answer as wrong passwords.
Secrets (passwords, codes, session ids) go nowhere but their digests and, for codes, the
outbox body that carries them to the person: not into logs, the journal or outbox metadata.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action
from opendmp.auth import sessions as login_sessions
from opendmp.auth import throttle
from opendmp.auth.account_models import (
    AccountStatus,
    CodePurpose,
    Delivery,
    OneTimeCode,
    PatientAccount,
    SecondFactor,
)
from opendmp.auth.hashing import AuthSecrets, digits, group, human_code, normalise_human
from opendmp.auth.tokens import Unauthenticated
from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.ins import Ins, InsSystem
from opendmp.identity.models import Patient
from opendmp.journal import service as journal
from opendmp.kit.errors import AccessDenied, DomainError, ErrorKind, InvalidInput
from opendmp.kit.ids import new_id
from opendmp.notify.models import HOLDER, ContactPoint, OutboxMessage, OutboxStatus, RecipientKind
from opendmp.notify.service import mask_address, normalise_email, normalise_phone
from opendmp.record import repository as records_repo
from opendmp.record.errors import RecordNotFound
from opendmp.record.models import Record, RecordStatus
from opendmp.stats import counters

ACTIVATION_VALIDITY = timedelta(weeks=6)
CODE_VALIDITY = timedelta(minutes=10)  # the most the rule allows; settings may shorten the step
LOGIN_ID_LENGTH = 10  # 29^10 ≈ 2^48: unique and short enough to type
ACTIVATION_CODE_LENGTH = 12  # 29^12 ≈ 2^58: not guessable in six weeks behind the rate limits
PASSWORD_MIN, PASSWORD_MAX = 10, 128
TOTP_WINDOW = 1  # one 30-second step either side, for clocks slightly apart
RECOVERY_CODES_PER_HOUR = 3  # per identifier as typed: a prober cannot flood the holder's phone
HOUR = timedelta(hours=1)
FAILURE = journal.Outcome.FAILURE
GONE = (RecordStatus.PURGED.value, RecordStatus.MERGED.value, RecordStatus.OBJECTED.value)

# Who acts before anyone is authenticated: login attempts are journaled under this actor, with
# the source address, on the system chain.
ANONYMOUS_ID = "anonymous"


def anonymous(source_address: str | None) -> Actor:
    return Actor(ActorKind.PATIENT, ANONYMOUS_ID, source_address=source_address)


# ---------------------------------------------------------------- errors (answers of the edge)


class LoginRefused(Unauthenticated):
    """Wrong identifier or password, an account not active: one answer for all (`reason` is for
    the journal only)."""

    def __init__(self, reason: str) -> None:
        super().__init__("identifiant ou mot de passe incorrect", field="password")
        self.reason = reason

    keep_journal = True


class CodeRefused(Unauthenticated):
    """A one-time code that is wrong, expired, already used or not this account's."""

    def __init__(self, reason: str) -> None:
        super().__init__("code incorrect ou expiré", field="code")
        self.reason = reason

    keep_journal = True


class ActivationRefused(Unauthenticated):
    """The activation code, NIR and birth date (or card serial) do not match a pending account."""

    def __init__(self, reason: str) -> None:
        super().__init__("ces informations ne permettent pas d'activer un compte", field="code")
        self.reason = reason

    keep_journal = True


class BackingOff(DomainError):
    """Too many consecutive failures: try again in `retry_after` seconds (the edge answers 429)."""

    kind = ErrorKind.PRECONDITION
    keep_journal = True

    def __init__(self, retry_after: int) -> None:
        super().__init__("trop de tentatives : réessayez plus tard")
        self.retry_after = retry_after


class WeakPassword(InvalidInput):
    def __init__(self, message: str) -> None:
        super().__init__(message, field="password")


class NoVerifiedContact(DomainError):
    """The account has no verified phone or email to send a code to."""

    kind = ErrorKind.BUSINESS_RULE


# ---------------------------------------------------------------- what the counter prints


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the credentials letter (or the message) gives the holder. The activation code exists in
    clear only here, once: the database keeps its digest."""

    login_id: str
    activation_code: str
    expires_at: datetime
    sent_to: str | None = None  # the masked address it was also sent to


def subject_of(secrets: AuthSecrets, login_id: str) -> str:
    """The throttle's key for an identifier as typed (known or not)."""
    return secrets.digest("login", normalise_human(login_id))


def login_subject(secrets: AuthSecrets, login_id: str, account: PatientAccount | None, device_mark: str | None) -> str:
    """Whose failures a login attempt counts on: on a device where this account already completed
    a login (its signed known-device mark), that device's own counter; else the identifier's. So
    someone who knows the identifier and keeps failing elsewhere backs off everyone but the
    holder's known devices (issue 5: no permanent lock anyone could trigger)."""
    device = secrets.known_device(str(account.id), device_mark) if account is not None and device_mark else None
    if account is not None and device is not None:
        return secrets.digest("device", f"{account.login_id}\x00{device}")
    return subject_of(secrets, login_id)


def _journal(
    session: Session,
    actor: Actor,
    action: str,
    at: datetime,
    *,
    record_id: uuid.UUID | None,
    target: uuid.UUID | None,
    outcome: journal.Outcome = journal.Outcome.SUCCESS,
    reason: str | None = None,
) -> None:
    journal.append(
        session,
        actor,
        journal.Event(action, "patient-account", str(target) if target else None, outcome=outcome, reason=reason),
        record_id=record_id,
        at=at,
    )


def _holder(session: Session, record_id: uuid.UUID) -> Ins:
    patient = records_repo.get_patient(session, record_id)
    record = records_repo.get_record(session, record_id)
    if patient is None or record is None or record.status in GONE:
        raise RecordNotFound("no such record")
    return Ins(InsSystem(patient.ins_system), patient.ins_value)


def holder_actor(session: Session, account: PatientAccount, source_address: str | None = None) -> Actor:
    return Actor.patient(_holder(session, account.record_id), source_address=source_address)


def _new_login_id(session: Session, secrets: AuthSecrets) -> str:
    for _ in range(10):
        candidate = human_code(secrets.random, LOGIN_ID_LENGTH)
        if session.execute(select(PatientAccount.id).where(PatientAccount.login_id == candidate)).first() is None:
            return candidate
    raise RuntimeError("could not draw a free identifier")  # 10 collisions in 2^48: a broken generator


def _verified_contacts(session: Session, record_id: uuid.UUID) -> dict[str, str]:
    rows = session.execute(
        select(ContactPoint).where(
            ContactPoint.record_id == record_id, ContactPoint.person == HOLDER, ContactPoint.verified_at.is_not(None)
        )
    ).scalars()
    return {row.channel: row.address for row in rows}


def _send(
    session: Session,
    record_id: uuid.UUID,
    category: str,
    channel: str,
    address: str,
    subject: str,
    body: str,
    at: datetime,
) -> None:
    """An outbox row to one address (codes go to the address being proven, verified or not).
    The secret is in the body only, the channel that carries it; nothing else names it."""
    session.add(
        OutboxMessage(
            id=new_id(),
            record_id=record_id,
            category=category,
            recipient_kind=RecipientKind.HOLDER.value,
            recipient_ref=None,
            channel=channel,
            address=address,
            subject=subject if channel == SecondFactor.EMAIL.value else None,
            body=body,
            status=OutboxStatus.PENDING.value,
            attempts=0,
            created_at=at,
            next_attempt_at=at,
        )
    )


def _code_message(purpose: CodePurpose, code: str, channel: str) -> tuple[str, str]:
    what = {
        CodePurpose.LOGIN: "de connexion",
        CodePurpose.CONTACT: "de vérification",
        CodePurpose.RECOVERY: "de réinitialisation du mot de passe",
    }[purpose]
    if channel == SecondFactor.SMS.value:
        return "", f"DMP : votre code {what} est {code}. Il expire dans 10 minutes. Ne le communiquez à personne."
    return (
        f"Votre code {what} DMP",
        (
            f"Bonjour,\n\nVotre code {what} est : {code}\n\nIl expire dans 10 minutes et ne sert qu'une fois. "
            "Ne le communiquez à personne : le service DMP ne vous le demandera jamais par téléphone.\n\n"
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n"
        ),
    )


# ---------------------------------------------------------------- credentials and activation


def issue_credentials(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    at: datetime,
    secrets: AuthSecrets,
    *,
    card_serial: str | None = None,
    send: bool = False,
    posted: bool = False,
) -> Credentials:
    """Give the holder an identifier (kept if they have one) and a fresh activation code, valid
    six weeks; the previous code stops working. Called by whoever opened the record (the counter
    prints the letter), by the system at automatic and online openings and for the insurer's
    mailing (`posted`), or later by a counter agent to recover a lost account. With `send`, the
    code also goes to the holder's verified email (else phone) through the outbox. The account
    keeps how this code was delivered: a system issue that reached no one waits for the mailing."""
    record, patient = _record_and_patient(session, record_id)
    facts = records_repo.load_facts(session, record, patient, at)
    access.require(session, actor, Action.CREDENTIALS_ISSUE, facts, at)
    account = session.execute(select(PatientAccount).where(PatientAccount.record_id == record_id)).scalar_one_or_none()
    if account is None:
        account = PatientAccount(
            id=new_id(),
            record_id=record_id,
            login_id=_new_login_id(session, secrets),
            status=AccountStatus.PENDING.value,
            second_factor=SecondFactor.SMS.value,
            created_at=at,
        )
        session.add(account)
    code = human_code(secrets.random, ACTIVATION_CODE_LENGTH)
    account.activation_digest = secrets.digest("activation", code)
    account.activation_expires_at = at + ACTIVATION_VALIDITY
    if card_serial:
        account.card_serial = normalise_human(card_serial)
    account.updated_at = at
    delivery = Delivery.POST if posted else None if actor.kind is ActorKind.SYSTEM else Delivery.IN_PERSON
    sent_to = None
    if send:
        contacts = _verified_contacts(session, record_id)
        channel = next((c for c in (SecondFactor.EMAIL.value, SecondFactor.SMS.value) if c in contacts), None)
        if channel is not None:
            _send(
                session,
                record_id,
                "auth-credentials",
                channel,
                contacts[channel],
                "Activez votre espace DMP",
                _credentials_message(account.login_id, code, account.activation_expires_at),
                at,
            )
            sent_to = mask_address(contacts[channel])
            delivery = delivery or Delivery(channel)
    account.delivery = delivery.value if delivery else None
    account.delivered_at = at if delivery else None
    session.flush()
    _journal(
        session,
        actor,
        "auth:credentials",
        at,
        record_id=record_id,
        target=account.id,
        reason="issued;sent" if sent_to else "issued;posted" if posted else "issued",
    )
    return Credentials(account.login_id, code, account.activation_expires_at, sent_to)


def _credentials_message(login_id: str, code: str, expires_at: datetime) -> str:
    return (
        f"DMP : votre identifiant est {group(login_id, 5)} et votre code d'activation provisoire "
        f"{group(code)} (valable jusqu'au {expires_at:%d/%m/%Y}). Activez votre espace DMP avec ce code, "
        "votre numéro de sécurité sociale et votre date de naissance."
    )


def _record_and_patient(session: Session, record_id: uuid.UUID) -> tuple[Record, Patient]:
    record = records_repo.get_record(session, record_id)
    patient = records_repo.get_patient(session, record_id) if record else None
    if record is None or patient is None or record.status in GONE:
        raise RecordNotFound("no such record")
    return record, patient


def begin_activation(
    session: Session,
    code: str,
    nir: str,
    at: datetime,
    secrets: AuthSecrets,
    *,
    birth_date: date | None = None,
    card_serial: str | None = None,
    source_address: str | None = None,
) -> PatientAccount:
    """Check an activation code with the holder's NIR and birth date (or card serial). The code is
    consumed only when the activation completes (confirm_contact)."""
    who = anonymous(source_address)
    account = session.execute(
        select(PatientAccount).where(
            PatientAccount.activation_digest == secrets.digest("activation", normalise_human(code))
        )
    ).scalar_one_or_none()
    if account is None:
        _refuse_activation(session, who, at, None, "unknown-code")
    assert account is not None  # for mypy: _refuse_activation raises
    subject = secrets.digest("login", account.login_id)
    wait = throttle.waiting(session, subject, at)
    if wait is not None:
        _journal(
            session,
            who,
            "auth:activate",
            at,
            record_id=None,
            target=account.id,
            outcome=journal.Outcome.FAILURE,
            reason="backoff",
        )
        raise BackingOff(wait.seconds)
    if account.activation_expires_at is None or account.activation_expires_at <= at:
        _refuse_activation(session, who, at, account.id, "expired-code")
    _, patient = _record_and_patient(session, account.record_id)
    nir_ok = normalise_human(nir) == patient.ins_value
    proof_ok = (birth_date is not None and birth_date == patient.birth_date) or (
        card_serial is not None
        and account.card_serial is not None
        and normalise_human(card_serial) == account.card_serial
    )
    if not (nir_ok and proof_ok):
        throttle.record_failure(session, subject, at)
        _refuse_activation(session, who, at, account.id, "identity-mismatch")
    _journal(session, who, "auth:activate", at, record_id=None, target=account.id, reason="code-checked")
    return account


def _refuse_activation(session: Session, who: Actor, at: datetime, account_id: uuid.UUID | None, reason: str) -> None:
    _journal(
        session,
        who,
        "auth:activate",
        at,
        record_id=None,
        target=account_id,
        outcome=journal.Outcome.FAILURE,
        reason=reason,
    )
    raise ActivationRefused(reason)


def check_password_strength(password: str, login_id: str | None = None) -> None:
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(f"le mot de passe doit compter au moins {PASSWORD_MIN} caractères")
    if len(password) > PASSWORD_MAX:
        raise WeakPassword(f"le mot de passe doit compter au plus {PASSWORD_MAX} caractères")
    if login_id and normalise_human(password) == login_id:
        raise WeakPassword("le mot de passe ne peut pas être l'identifiant")


def set_password(session: Session, account_id: uuid.UUID, password: str, at: datetime, secrets: AuthSecrets) -> None:
    """Activation's second step (the account stays pending until its contact is proven)."""
    account = _account(session, account_id)
    check_password_strength(password, account.login_id)
    account.password_hash = secrets.hash_password(password)
    account.password_changed_at = account.updated_at = at
    session.flush()


def _account(session: Session, account_id: uuid.UUID) -> PatientAccount:
    account = session.get(PatientAccount, account_id)
    if account is None:
        raise login_sessions.SessionInvalid("unknown")
    return account


def send_contact_code(
    session: Session, account_id: uuid.UUID, channel: SecondFactor, address: str, at: datetime, secrets: AuthSecrets
) -> str:
    """Send a code to the phone or email to prove it; returns the normalised address."""
    if channel is SecondFactor.TOTP:
        raise InvalidInput("choose a phone or an email", field="channel")
    value = normalise_email(address) if channel is SecondFactor.EMAIL else normalise_phone(address)
    account = _account(session, account_id)
    _issue_code(session, account, CodePurpose.CONTACT, channel.value, value, at, secrets)
    return value


def _issue_code(
    session: Session,
    account: PatientAccount,
    purpose: CodePurpose,
    channel: str,
    address: str,
    at: datetime,
    secrets: AuthSecrets,
) -> None:
    # A new code replaces the previous one of the same purpose: only the latest works.
    session.execute(
        delete(OneTimeCode).where(OneTimeCode.account_id == account.id, OneTimeCode.purpose == purpose.value)
    )
    code = digits(secrets.random)
    code_id = new_id()
    session.add(
        OneTimeCode(
            id=code_id,
            record_id=account.record_id,
            account_id=account.id,
            purpose=purpose.value,
            digest=secrets.digest(f"code:{code_id}", code),
            channel=channel,
            address=address if purpose is CodePurpose.CONTACT else None,
            created_at=at,
            expires_at=at + CODE_VALIDITY,
        )
    )
    subject, body = _code_message(purpose, code, channel)
    _send(session, account.record_id, f"auth-code-{purpose.value}", channel, address, subject, body, at)
    session.flush()


def _check_code(
    session: Session,
    account: PatientAccount,
    purpose: CodePurpose,
    code: str,
    at: datetime,
    secrets: AuthSecrets,
    who: Actor,
    action: str,
    subject: str | None = None,
) -> OneTimeCode:
    """The live code of `purpose` if `code` is it; else the failure is counted, journaled and raised.
    While the account backs off the code is not even looked at. Recovery codes count apart, so that
    a login backoff does not stop the recovery that lifts it (and they back off alike)."""
    subject = subject or (
        recovery_subject(secrets, account.login_id)
        if purpose is CodePurpose.RECOVERY
        else secrets.digest("login", account.login_id)
    )
    wait = throttle.waiting(session, subject, at)
    if wait is not None:
        _journal(
            session,
            who,
            action,
            at,
            record_id=None,
            target=account.id,
            outcome=journal.Outcome.FAILURE,
            reason="backoff",
        )
        raise BackingOff(wait.seconds)
    row = session.execute(
        select(OneTimeCode).where(OneTimeCode.account_id == account.id, OneTimeCode.purpose == purpose.value)
    ).scalar_one_or_none()
    typed = "".join(c for c in code if c.isdigit())
    if row is None:
        reason = "no-code"
    elif not secrets.matches(f"code:{row.id}", typed, row.digest):
        reason = "wrong-code"
    elif row.used_at is not None:
        reason = "replayed-code"
    elif row.expires_at <= at:
        reason = "expired-code"
    else:
        row.used_at = at
        session.flush()
        return row
    throttle.record_failure(session, subject, at)
    _journal(
        session, who, action, at, record_id=None, target=account.id, outcome=journal.Outcome.FAILURE, reason=reason
    )
    raise CodeRefused(reason)


def confirm_contact(
    session: Session,
    account_id: uuid.UUID,
    code: str,
    at: datetime,
    secrets: AuthSecrets,
    source_address: str | None = None,
) -> PatientAccount:
    """The code sent to the new address matches: the address becomes the holder's verified contact
    point and the preferred second factor; a pending account becomes active (its activation code
    is spent)."""
    account = _account(session, account_id)
    holder = holder_actor(session, account, source_address)
    row = _check_code(session, account, CodePurpose.CONTACT, code, at, secrets, holder, "auth:contact")
    assert row.address is not None
    contact = session.execute(
        select(ContactPoint).where(
            ContactPoint.record_id == account.record_id,
            ContactPoint.person == HOLDER,
            ContactPoint.channel == row.channel,
        )
    ).scalar_one_or_none()
    if contact is None:
        contact = ContactPoint(record_id=account.record_id, person=HOLDER, channel=row.channel)
        session.add(contact)
    contact.address, contact.verified_at, contact.updated_at = row.address, at, at
    if account.second_factor != SecondFactor.TOTP.value:
        account.second_factor = row.channel
    activating = account.status == AccountStatus.PENDING.value or account.activation_digest is not None
    if activating:
        if account.password_hash is None:
            raise WeakPassword("choisissez d'abord un mot de passe")
        account.status = AccountStatus.ACTIVE.value
        if account.activated_at is None:
            counters.count_activation(session, at)  # the activation rate (statistics)
        account.activated_at = account.activated_at or at
        account.activation_digest = account.activation_expires_at = None
        # A counter agent's re-issued code is a recovery: the old sessions end, the count clears.
        login_sessions.revoke_for_account(session, account.id, at, "reactivated")
        throttle.clear(session, secrets.digest("login", account.login_id))
    account.updated_at = at
    session.flush()
    _journal(
        session,
        holder,
        "auth:activate" if activating else "auth:contact",
        at,
        record_id=account.record_id,
        target=account.id,
        reason=f"contact:{row.channel}:verified",
    )
    return account


# ---------------------------------------------------------------- login


def check_password(
    session: Session,
    login_id: str,
    password: str,
    at: datetime,
    secrets: AuthSecrets,
    source_address: str | None = None,
    *,
    device_mark: str | None = None,
) -> PatientAccount:
    """First factor. Known and unknown identifiers take the same path: one Argon2id verification,
    one throttle row, one journal entry, one answer. A correct password clears nothing: only a
    complete login does, so knowing the password buys no extra code guesses. `device_mark` is
    the known-device cookie: its holder counts on the device's own counter (login_subject)."""
    who = anonymous(source_address)
    typed = normalise_human(login_id)
    account = session.execute(select(PatientAccount).where(PatientAccount.login_id == typed)).scalar_one_or_none()
    subject = login_subject(secrets, typed, account, device_mark)
    wait = throttle.waiting(session, subject, at)
    if wait is not None:
        _journal(
            session,
            who,
            "auth:login",
            at,
            record_id=None,
            target=None,
            outcome=journal.Outcome.FAILURE,
            reason="backoff",
        )
        raise BackingOff(wait.seconds)
    usable = account is not None and account.status == AccountStatus.ACTIVE.value
    stored = account.password_hash if usable and account is not None else None
    if not secrets.check_password(stored, password) or account is None:
        throttle.record_failure(session, subject, at)
        reason = (
            "unknown-identifier" if account is None else "wrong-password" if usable else f"account-{account.status}"
        )
        _journal(
            session,
            who,
            "auth:login",
            at,
            record_id=None,
            target=account.id if account else None,
            outcome=journal.Outcome.FAILURE,
            reason=reason,
        )
        raise LoginRefused(reason)
    if stored is not None and secrets.needs_rehash(stored):
        account.password_hash = secrets.hash_password(password)  # the parameters rose since
        account.updated_at = at
    _journal(session, who, "auth:login", at, record_id=None, target=account.id, reason="password-checked")
    session.flush()
    return account


def send_login_code(session: Session, account_id: uuid.UUID, at: datetime, secrets: AuthSecrets) -> str | None:
    """Send the second factor's code; returns the masked address, or None for a TOTP app."""
    account = _account(session, account_id)
    if account.second_factor == SecondFactor.TOTP.value and account.totp_sealed is not None:
        return None
    contacts = _verified_contacts(session, account.record_id)
    preferred = [account.second_factor, SecondFactor.SMS.value, SecondFactor.EMAIL.value]
    channel = next((c for c in preferred if c in contacts), None)
    if channel is None:
        raise NoVerifiedContact("no verified phone or email: ask a counter agent")
    _issue_code(session, account, CodePurpose.LOGIN, channel, contacts[channel], at, secrets)
    return mask_address(contacts[channel])


def check_second_factor(
    session: Session,
    account_id: uuid.UUID,
    code: str,
    at: datetime,
    secrets: AuthSecrets,
    source_address: str | None = None,
    *,
    subject: str | None = None,
) -> Actor:
    """Second factor: the login code (or the TOTP app's), counted on `subject` (the one the
    password step chose, login_subject; the identifier's by default). Success ends that run of
    failures, is journaled on the record's chain, and returns the holder as the session's Actor."""
    account = _account(session, account_id)
    holder = holder_actor(session, account, source_address)
    if account.status != AccountStatus.ACTIVE.value:
        raise login_sessions.SessionInvalid("disabled")
    subject = subject or secrets.digest("login", account.login_id)
    who = anonymous(source_address)
    if account.second_factor == SecondFactor.TOTP.value and account.totp_sealed is not None:
        _check_totp(session, account, code, at, secrets, who, subject)
    else:
        _check_code(session, account, CodePurpose.LOGIN, code, at, secrets, who, "auth:login", subject)
    throttle.clear(session, subject)
    _journal(
        session,
        holder,
        "auth:login",
        at,
        record_id=account.record_id,
        target=account.id,
        reason=f"second-factor:{account.second_factor}",
    )
    return holder


def _check_totp(
    session: Session,
    account: PatientAccount,
    code: str,
    at: datetime,
    secrets: AuthSecrets,
    who: Actor,
    subject: str | None = None,
) -> None:
    subject = subject or secrets.digest("login", account.login_id)
    wait = throttle.waiting(session, subject, at)
    if wait is not None:
        _journal(
            session,
            who,
            "auth:login",
            at,
            record_id=None,
            target=account.id,
            outcome=journal.Outcome.FAILURE,
            reason="backoff",
        )
        raise BackingOff(wait.seconds)
    assert account.totp_sealed is not None
    totp = pyotp.TOTP(secrets.unseal(account.totp_sealed).decode())
    typed = "".join(c for c in code if c.isdigit())
    counter = _totp_match(totp, typed, at)
    if counter is None or (account.totp_last_counter is not None and counter <= account.totp_last_counter):
        reason = "wrong-code" if counter is None else "replayed-code"
        throttle.record_failure(session, subject, at)
        _journal(
            session,
            who,
            "auth:login",
            at,
            record_id=None,
            target=account.id,
            outcome=journal.Outcome.FAILURE,
            reason=reason,
        )
        raise CodeRefused(reason)
    account.totp_last_counter = counter  # a TOTP code is single use too
    session.flush()


def _totp_match(totp: pyotp.TOTP, typed: str, at: datetime) -> int | None:
    if len(typed) != totp.digits:
        return None
    step = int(at.timestamp()) // totp.interval
    for counter in range(step - TOTP_WINDOW, step + TOTP_WINDOW + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(counter), typed):
            return counter
    return None


def begin_totp(
    session: Session,
    account_id: uuid.UUID,
    at: datetime,
    secrets: AuthSecrets,
    *,
    password: str,
    source_address: str | None = None,
    subject: str | None = None,
) -> str:
    """A new TOTP seed (base32, to type into the app); active once a code from it is confirmed.
    The password is asked again first: whoever holds a forgotten open session must not be able
    to move the second factor to their own phone."""
    account = _account(session, account_id)
    _reauthenticate(session, account, password, at, secrets, "auth:totp", source_address, subject)
    seed = pyotp.random_base32()
    account.totp_sealed = secrets.seal(seed.encode())
    account.totp_last_counter = None
    if account.second_factor == SecondFactor.TOTP.value:
        account.second_factor = SecondFactor.SMS.value  # the old seed is gone until the new one is proven
    account.updated_at = at
    session.flush()
    return seed


def confirm_totp(
    session: Session,
    account_id: uuid.UUID,
    code: str,
    at: datetime,
    secrets: AuthSecrets,
    source_address: str | None = None,
) -> None:
    account = _account(session, account_id)
    holder = holder_actor(session, account, source_address)
    if account.totp_sealed is None:
        raise InvalidInput("no TOTP enrolment under way", field="code")
    _check_totp(session, account, code, at, secrets, holder)
    account.second_factor = SecondFactor.TOTP.value
    account.updated_at = at
    session.flush()
    _journal(session, holder, "auth:totp", at, record_id=account.record_id, target=account.id, reason="enrolled")


# ---------------------------------------------------------------- recovery, change, disabling


def recover_identifier(
    session: Session,
    nir: str,
    birth_date: date,
    at: datetime,
    secrets: AuthSecrets,
    source_address: str | None = None,
) -> None:
    """Send the identifier to the holder's verified channel, if the NIR and birth date match an
    active account. Returns nothing either way: the page says the same thing to everyone."""
    who = anonymous(source_address)
    value = normalise_human(nir)
    account = None
    for system in InsSystem:
        record_id = records_repo.record_id_by_ins(session, Ins(system, value)) if len(value) == 15 else None
        if record_id is None:
            continue
        patient = records_repo.get_patient(session, record_id)
        if patient is not None and patient.birth_date == birth_date:
            account = session.execute(
                select(PatientAccount).where(PatientAccount.record_id == record_id)
            ).scalar_one_or_none()
        break
    contacts = _verified_contacts(session, account.record_id) if account is not None else {}
    channel = next((c for c in (SecondFactor.EMAIL.value, SecondFactor.SMS.value) if c in contacts), None)
    if account is None or account.status != AccountStatus.ACTIVE.value or channel is None:
        _journal(
            session,
            who,
            "auth:recover-identifier",
            at,
            record_id=None,
            target=account.id if account else None,
            outcome=journal.Outcome.FAILURE,
            reason="no-match",
        )
        return
    _send(
        session,
        account.record_id,
        "auth-identifier",
        channel,
        contacts[channel],
        "Votre identifiant DMP",
        f"DMP : votre identifiant est {group(account.login_id, 5)}.",
        at,
    )
    _journal(
        session,
        who,
        "auth:recover-identifier",
        at,
        record_id=account.record_id,
        target=account.id,
        reason=f"sent:{channel}",
    )


def recovery_subject(secrets: AuthSecrets, login_id: str) -> str:
    """The throttle's key for recovery codes checked against an identifier as typed (known or not):
    apart from the login's, so that a login backoff does not stop the recovery that lifts it."""
    return secrets.digest("recovery", normalise_human(login_id))


def start_password_recovery(
    session: Session, login_id: str, at: datetime, secrets: AuthSecrets, source_address: str | None = None
) -> uuid.UUID | None:
    """Send a recovery code to the account's verified channel; the account id (None when there is
    none to recover: the edge answers alike and the code check will fail). At most
    RECOVERY_CODES_PER_HOUR per identifier as typed, known or not (each one reaches the holder's
    phone or mailbox), else BackingOff."""
    who = anonymous(source_address)
    typed = normalise_human(login_id)
    wait = throttle.spend(session, secrets.digest("recovery-sent", typed), at, limit=RECOVERY_CODES_PER_HOUR, per=HOUR)
    account = session.execute(select(PatientAccount).where(PatientAccount.login_id == typed)).scalar_one_or_none()
    if wait is not None:
        target = account.id if account else None
        _journal(
            session, who, "auth:recover-password", at, record_id=None, target=target, outcome=FAILURE, reason="backoff"
        )
        raise BackingOff(wait.seconds)
    contacts = _verified_contacts(session, account.record_id) if account is not None else {}
    channel = next((c for c in (SecondFactor.SMS.value, SecondFactor.EMAIL.value) if c in contacts), None)
    if account is None or account.status != AccountStatus.ACTIVE.value or channel is None:
        _journal(
            session,
            who,
            "auth:recover-password",
            at,
            record_id=None,
            target=account.id if account else None,
            outcome=FAILURE,
            reason="no-match",
        )
        return None
    _issue_code(session, account, CodePurpose.RECOVERY, channel, contacts[channel], at, secrets)
    return account.id


def complete_password_recovery(
    session: Session,
    account_id: uuid.UUID | None,
    code: str,
    new_password: str,
    at: datetime,
    secrets: AuthSecrets,
    source_address: str | None = None,
    *,
    subject: str | None = None,
) -> None:
    """The recovery code and a new password: the password changes, every session ends, and the
    run of failures is cleared (the lock is lifted by recovery). The code is checked first, and
    an identifier without an account (`account_id` None) goes through the same throttle under
    `subject` (recovery_subject of what was typed): known and unknown answer alike, backoff
    included, and no password rule is told before the code is right."""
    who = anonymous(source_address)
    if account_id is None:
        if subject is None:
            raise ValueError("an unknown identifier's recovery needs its subject")
        _refuse_unknown_recovery(session, subject, at, who)
    assert account_id is not None  # for mypy: _refuse_unknown_recovery raises
    account = _account(session, account_id)
    _check_code(session, account, CodePurpose.RECOVERY, code, at, secrets, who, "auth:recover-password")
    check_password_strength(new_password, account.login_id)
    account.password_hash = secrets.hash_password(new_password)
    account.password_changed_at = account.updated_at = at
    login_sessions.revoke_for_account(session, account.id, at, "password-recovered")
    throttle.clear(session, secrets.digest("login", account.login_id))
    throttle.clear(session, recovery_subject(secrets, account.login_id))
    session.flush()
    _journal(
        session,
        holder_actor(session, account, source_address),
        "auth:recover-password",
        at,
        record_id=account.record_id,
        target=account.id,
        reason="password-reset",
    )


def _refuse_unknown_recovery(session: Session, subject: str, at: datetime, who: Actor) -> None:
    """What _check_code does for a known account whose code is wrong, without an account."""
    wait = throttle.waiting(session, subject, at)
    if wait is not None:
        _journal(
            session, who, "auth:recover-password", at, record_id=None, target=None, outcome=FAILURE, reason="backoff"
        )
        raise BackingOff(wait.seconds)
    throttle.record_failure(session, subject, at)
    _journal(
        session, who, "auth:recover-password", at, record_id=None, target=None, outcome=FAILURE, reason="no-account"
    )
    raise CodeRefused("no-account")


def recover_by_agent(
    session: Session,
    agent: Actor,
    record_id: uuid.UUID,
    at: datetime,
    secrets: AuthSecrets,
    *,
    card_serial: str | None = None,
) -> Credentials:
    """A counter agent, the person in front of them, gives a new activation code (printed on a
    new letter); the identifier stays. Activating with it sets a new password and a proven
    contact, ends the old sessions and clears the run of failures."""
    if agent.kind not in (ActorKind.COUNTER_AGENT, ActorKind.OPERATOR):
        raise _agents_only(session, agent, record_id, at)
    credentials = issue_credentials(session, agent, record_id, at, secrets, card_serial=card_serial)
    account = session.execute(select(PatientAccount).where(PatientAccount.record_id == record_id)).scalar_one()
    throttle.clear(session, secrets.digest("login", account.login_id))
    _journal(session, agent, "auth:recovery", at, record_id=record_id, target=account.id, reason="by-counter-agent")
    return credentials


def _agents_only(session: Session, actor: Actor, record_id: uuid.UUID, at: datetime) -> DomainError:
    _journal(
        session,
        actor,
        "auth:recovery",
        at,
        record_id=record_id,
        target=None,
        outcome=journal.Outcome.DENIED,
        reason="counter-agents-only",
    )
    return AccessDenied("only a counter agent recovers an account")


def change_password(
    session: Session,
    account_id: uuid.UUID,
    current: str,
    new: str,
    at: datetime,
    secrets: AuthSecrets,
    *,
    keep_session: str | None,
    source_address: str | None = None,
    subject: str | None = None,
) -> None:
    """The logged-in holder changes their password: every other session ends. Wrong current
    passwords count on `subject`, the session's login subject (the identifier's by default)."""
    account = _account(session, account_id)
    holder = _reauthenticate(session, account, current, at, secrets, "auth:password", source_address, subject)
    check_password_strength(new, account.login_id)
    account.password_hash = secrets.hash_password(new)
    account.password_changed_at = account.updated_at = at
    login_sessions.revoke_for_account(session, account.id, at, "password-changed", keep=keep_session)
    session.flush()
    _journal(session, holder, "auth:password", at, record_id=account.record_id, target=account.id, reason="changed")


def _reauthenticate(
    session: Session,
    account: PatientAccount,
    password: str,
    at: datetime,
    secrets: AuthSecrets,
    action: str,
    source_address: str | None,
    subject: str | None,
) -> Actor:
    """The logged-in holder types their password again before a sensitive change; failures count
    on the session's login subject and back off like a login. Returns the holder."""
    holder = holder_actor(session, account, source_address)
    subject = subject or secrets.digest("login", account.login_id)
    wait = throttle.waiting(session, subject, at)
    if wait is not None:
        raise BackingOff(wait.seconds)
    if not secrets.check_password(account.password_hash, password):
        throttle.record_failure(session, subject, at)
        _journal(
            session,
            holder,
            action,
            at,
            record_id=account.record_id,
            target=account.id,
            outcome=FAILURE,
            reason="wrong-password",
        )
        raise LoginRefused("wrong-password")
    return holder


def disable_account(session: Session, agent: Actor, record_id: uuid.UUID, at: datetime) -> None:
    """A counter agent or an operator disables an account (theft, death): its sessions end now."""
    if agent.kind not in (ActorKind.COUNTER_AGENT, ActorKind.OPERATOR):
        raise _agents_only(session, agent, record_id, at)
    account = session.execute(select(PatientAccount).where(PatientAccount.record_id == record_id)).scalar_one_or_none()
    if account is None:
        raise RecordNotFound("no account for this record")
    account.status = AccountStatus.DISABLED.value
    account.disabled_at = account.updated_at = at
    login_sessions.revoke_for_account(session, account.id, at, "account-disabled")
    session.flush()
    _journal(session, agent, "auth:disable", at, record_id=record_id, target=account.id)


def account_of_record(session: Session, record_id: uuid.UUID) -> PatientAccount | None:
    return session.execute(select(PatientAccount).where(PatientAccount.record_id == record_id)).scalar_one_or_none()
