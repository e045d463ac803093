"""Patients' logins, one test per rule, on SQLite and PostgreSQL: activation with the provisional
code, password + one-time code, throttling, sessions, recovery, profiles and delegations."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from opendmp.auth import delegations, patients, throttle
from opendmp.auth import sessions as login_sessions
from opendmp.auth.account_models import (
    AuthSession,
    LoginThrottle,
    OneTimeCode,
    PatientAccount,
    SecondFactor,
    SessionStage,
)
from opendmp.auth.hashing import ARGON2_MEMORY_KIB, AuthSecrets, make_hasher
from opendmp.auth.models import ClientAssertionJti
from opendmp.auth.staff_models import PendingLogin
from opendmp.document import service as documents
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.identity.models import Patient
from opendmp.jobs import run_jobs
from opendmp.journal.models import JournalEntry
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import AccessDenied, HiddenFromActor
from opendmp.notify.models import OutboxMessage
from opendmp.record.service import RepresentativeIn
from opendmp.runtime import Runtime
from tests import factories as f
from tests.integration.test_notify import submit
from tests.integration.test_software_clients import client_key, establishment, register

AGENT = Actor.counter_agent("agent-cpam-75", organisation="750000001")
PASSWORD = "une phrase de passe solide"
PHONE = "06 12 34 56 78"
CODE_STEP = timedelta(minutes=10)


def auth_secrets(runtime: Runtime) -> AuthSecrets:
    return AuthSecrets.from_master_key(runtime.keys.master_key)


def a_record(runtime: Runtime, order: int | None = None, **kw: Any) -> tuple[Ins, uuid.UUID]:
    ins, traits = f.person(order=order, **kw)
    opened = f.open_record(runtime, AGENT, ins, traits)
    return ins, opened.record.id


def issue(runtime: Runtime, record_id: uuid.UUID, secrets: AuthSecrets, **kw: Any) -> patients.Credentials:
    with unit_of_work(runtime.sessions) as db:
        return patients.issue_credentials(db, AGENT, record_id, runtime.clock.now(), secrets, **kw)


def last_code(runtime: Runtime, record_id: uuid.UUID) -> str:
    """The code of the record's live one-time code, read from the message that carried it (the
    frozen clock gives messages equal timestamps, so the live row tells which one it is)."""
    with unit_of_work(runtime.sessions) as db:
        bodies = (
            db.execute(
                select(OutboxMessage.body).where(
                    OutboxMessage.record_id == record_id, OutboxMessage.category.like("auth-code-%")
                )
            )
            .scalars()
            .all()
        )
        live = (
            db.execute(select(OneTimeCode).where(OneTimeCode.record_id == record_id, OneTimeCode.used_at.is_(None)))
            .scalars()
            .all()
        )
    secrets = auth_secrets(runtime)
    for text in bodies:
        code = re.search(r"\b(\d{6})\b", text)
        assert code is not None
        if any(secrets.matches(f"code:{row.id}", code.group(1), row.digest) for row in live):
            return code.group(1)
    raise AssertionError("no live code in the outbox")


def activate(runtime: Runtime, record_id: uuid.UUID, ins: Ins, secrets: AuthSecrets) -> PatientAccount:
    """The whole activation, as the pages drive it."""
    credentials = issue(runtime, record_id, secrets)
    with unit_of_work(runtime.sessions) as db:
        patient = db.execute(select(Patient).where(Patient.record_id == record_id)).scalar_one()
        account = patients.begin_activation(
            db, credentials.activation_code, ins.value, runtime.clock.now(), secrets, birth_date=patient.birth_date
        )
        patients.set_password(db, account.id, PASSWORD, runtime.clock.now(), secrets)
        patients.send_contact_code(db, account.id, SecondFactor.SMS, PHONE, runtime.clock.now(), secrets)
    with unit_of_work(runtime.sessions) as db:
        return patients.confirm_contact(db, account.id, last_code(runtime, record_id), runtime.clock.now(), secrets)


def login(runtime: Runtime, login_id: str, secrets: AuthSecrets, password: str = PASSWORD) -> Actor:
    with unit_of_work(runtime.sessions) as db:
        account = patients.check_password(db, login_id, password, runtime.clock.now(), secrets)
        patients.send_login_code(db, account.id, runtime.clock.now(), secrets)
    with unit_of_work(runtime.sessions) as db:
        return patients.check_second_factor(
            db, account.id, last_code(runtime, account.record_id), runtime.clock.now(), secrets
        )


def journal_reasons(runtime: Runtime, action: str) -> list[str | None]:
    with unit_of_work(runtime.sessions) as db:
        return list(
            db.execute(select(JournalEntry.reason).where(JournalEntry.action == action).order_by(JournalEntry.at))
            .scalars()
            .all()
        )


# ---------------------------------------------------------------- activation


def test_identifier_is_random_human_typable_and_not_derived_from_the_nir(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    credentials = issue(runtime, record_id, secrets)
    assert re.fullmatch(r"[2-9A-HJKMNP-TW-Z]{10}", credentials.login_id)
    assert not any(part in credentials.login_id for part in (ins.value[:5], ins.value[-5:]))
    assert re.fullmatch(r"[2-9A-HJKMNP-TW-Z]{12}", credentials.activation_code)
    with unit_of_work(runtime.sessions) as db:
        account = db.execute(select(PatientAccount)).scalar_one()
    # Only a keyed digest of the activation code is kept.
    assert credentials.activation_code not in str(account.activation_digest)
    assert account.activation_expires_at == runtime.clock.now() + timedelta(weeks=6)


def test_activation_code_works_once_and_expires_after_six_weeks(runtime: Runtime, clock: FrozenClock) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)
    assert account.status == "active"
    # Used once: the same code no longer opens anything.
    credentials_used = journal_reasons(runtime, "auth:activate")
    assert "contact:sms:verified" in credentials_used
    ins2, record2 = a_record(runtime)
    credentials = issue(runtime, record2, secrets)
    born = f.person(order=None)[1].birth_date
    clock.advance(timedelta(weeks=6))
    with pytest.raises(patients.ActivationRefused) as refused, unit_of_work(runtime.sessions) as db:
        patients.begin_activation(db, credentials.activation_code, ins2.value, clock.now(), secrets, birth_date=born)
    assert refused.value.reason == "expired-code"
    # A week before the end, it worked; the first account's spent code is unknown now.
    with pytest.raises(patients.ActivationRefused) as spent, unit_of_work(runtime.sessions) as db:
        patients.begin_activation(db, "ANYTHING", ins.value, clock.now(), secrets, birth_date=born)
    assert spent.value.reason == "unknown-code"


def test_activation_needs_the_nir_and_the_birth_date_or_card_serial(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    credentials = issue(runtime, record_id, secrets, card_serial="1234 5678 90")
    born = f.person()[1].birth_date
    now = runtime.clock.now()
    with pytest.raises(patients.ActivationRefused), unit_of_work(runtime.sessions) as db:
        patients.begin_activation(
            db, credentials.activation_code, ins.value, now, secrets, birth_date=born.replace(day=1)
        )
    with unit_of_work(runtime.sessions) as db:
        patients.begin_activation(db, credentials.activation_code, ins.value, now, secrets, card_serial="1234567890")
        patients.begin_activation(db, credentials.activation_code.lower(), ins.value, now, secrets, birth_date=born)


def test_credentials_go_through_the_outbox_when_the_holder_has_a_verified_contact(runtime: Runtime) -> None:
    from opendmp.notify import service as notifications
    from opendmp.notify.models import ChannelKind

    secrets = auth_secrets(runtime)
    _, record_id = a_record(runtime)
    assert issue(runtime, record_id, secrets, send=True).sent_to is None  # nobody to send to yet
    with unit_of_work(runtime.sessions) as db:
        notifications.set_contact(
            db, f.OPERATOR, record_id, ChannelKind.EMAIL, "claire@example.org", runtime.clock.now()
        )
    credentials = issue(runtime, record_id, secrets, send=True)
    assert credentials.sent_to == "c***@example.org"
    with unit_of_work(runtime.sessions) as db:
        message = db.execute(select(OutboxMessage).where(OutboxMessage.category == "auth-credentials")).scalar_one()
    assert credentials.login_id[:5] in message.body and credentials.activation_code[:4] in message.body


# ---------------------------------------------------------------- login


def test_login_needs_password_and_a_fresh_one_time_code(runtime: Runtime, clock: FrozenClock) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)
    with pytest.raises(patients.LoginRefused), unit_of_work(runtime.sessions) as db:
        patients.check_password(db, account.login_id, "not the password", clock.now(), secrets)
    with unit_of_work(runtime.sessions) as db:
        patients.check_password(db, account.login_id, PASSWORD, clock.now(), secrets)
        patients.send_login_code(db, account.id, clock.now(), secrets)
    code = last_code(runtime, record_id)
    clock.advance(timedelta(minutes=10))  # ten minutes at most
    with pytest.raises(patients.CodeRefused) as expired, unit_of_work(runtime.sessions) as db:
        patients.check_second_factor(db, account.id, code, clock.now(), secrets)
    assert expired.value.reason == "expired-code"
    actor = login(runtime, account.login_id, secrets)
    assert actor == Actor.patient(ins)
    # Single use: the same code again is a replay.
    with pytest.raises(patients.CodeRefused) as replayed, unit_of_work(runtime.sessions) as db:
        patients.check_second_factor(db, account.id, last_code_any(runtime, record_id), clock.now(), secrets)
    assert replayed.value.reason == "replayed-code"
    assert journal_reasons(runtime, "auth:login")[-2:] == ["second-factor:sms", "replayed-code"]


def last_code_any(runtime: Runtime, record_id: uuid.UUID) -> str:
    with unit_of_work(runtime.sessions) as db:
        body = (
            db.execute(
                select(OutboxMessage.body)
                .where(OutboxMessage.category == "auth-code-login")
                .order_by(OutboxMessage.created_at)
            )
            .scalars()
            .all()
        )
    found = re.search(r"\b(\d{6})\b", body[-1])
    assert found is not None
    return found.group(1)


def test_a_new_code_invalidates_the_previous_one(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)
    now = runtime.clock.now()
    with unit_of_work(runtime.sessions) as db:
        patients.check_password(db, account.login_id, PASSWORD, now, secrets)
        patients.send_login_code(db, account.id, now, secrets)
    first = last_code(runtime, record_id)
    with unit_of_work(runtime.sessions) as db:
        patients.send_login_code(db, account.id, now, secrets)
    second = last_code(runtime, record_id)
    if first == second:
        pytest.skip("the two random codes happen to be equal (one chance in a million)")
    with pytest.raises(patients.CodeRefused), unit_of_work(runtime.sessions) as db:
        patients.check_second_factor(db, account.id, first, now, secrets)
    with unit_of_work(runtime.sessions) as db:
        patients.check_second_factor(db, account.id, second, now, secrets)


def test_a_code_for_another_account_is_refused(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    ins_a, record_a = a_record(runtime)
    ins_b, record_b = a_record(runtime)
    a = activate(runtime, record_a, ins_a, secrets)
    b = activate(runtime, record_b, ins_b, secrets)
    now = runtime.clock.now()
    with unit_of_work(runtime.sessions) as db:
        patients.send_login_code(db, a.id, now, secrets)
        patients.send_login_code(db, b.id, now, secrets)
    code_for_b = last_code(runtime, record_b)
    with pytest.raises(patients.CodeRefused), unit_of_work(runtime.sessions) as db:
        patients.check_second_factor(db, a.id, code_for_b, now, secrets)


def test_argon2_parameters_and_rehash_when_they_rise(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    stored = secrets.hash_password(PASSWORD)
    assert stored.startswith(f"$argon2id$v=19$m={ARGON2_MEMORY_KIB},t=2,p=1$")
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with unit_of_work(runtime.sessions) as db:
        db.get(PatientAccount, account.id).password_hash = weak  # type: ignore[union-attr]
    with unit_of_work(runtime.sessions) as db:
        patients.check_password(db, account.login_id, PASSWORD, runtime.clock.now(), secrets)
    with unit_of_work(runtime.sessions) as db:
        rehashed = db.get(PatientAccount, account.id).password_hash  # type: ignore[union-attr]
    assert rehashed != weak and rehashed is not None and f"m={ARGON2_MEMORY_KIB},t=2,p=1" in rehashed
    # The parameters rise again: the next login rehashes once more.
    secrets.hasher = make_hasher(memory_kib=ARGON2_MEMORY_KIB * 2)
    with unit_of_work(runtime.sessions) as db:
        patients.check_password(db, account.login_id, PASSWORD, runtime.clock.now(), secrets)
    with unit_of_work(runtime.sessions) as db:
        assert f"m={ARGON2_MEMORY_KIB * 2}," in str(db.get(PatientAccount, account.id).password_hash)  # type: ignore[union-attr]


def test_totp_app_as_second_factor(runtime: Runtime, clock: FrozenClock) -> None:
    import pyotp

    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)
    with unit_of_work(runtime.sessions) as db:
        seed = patients.begin_totp(db, account.id, clock.now(), secrets, password=PASSWORD)
    app = pyotp.TOTP(seed)
    with unit_of_work(runtime.sessions) as db:
        patients.confirm_totp(db, account.id, app.at(clock.now()), clock.now(), secrets)
    clock.advance(timedelta(seconds=30))
    with unit_of_work(runtime.sessions) as db:
        assert patients.send_login_code(db, account.id, clock.now(), secrets) is None  # no SMS: the app
        assert patients.check_second_factor(db, account.id, app.at(clock.now()), clock.now(), secrets) == Actor.patient(
            ins
        )
    with pytest.raises(patients.CodeRefused) as replayed, unit_of_work(runtime.sessions) as db:
        patients.check_second_factor(db, account.id, app.at(clock.now()), clock.now(), secrets)
    assert replayed.value.reason == "replayed-code"


# ---------------------------------------------------------------- throttling


def test_backoff_after_five_failures_evaluates_at_most_five_of_a_thousand_wrong_codes(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)
    now = runtime.clock.now()
    with unit_of_work(runtime.sessions) as db:
        patients.check_password(db, account.login_id, PASSWORD, now, secrets)
        patients.send_login_code(db, account.id, now, secrets)
    real = last_code(runtime, record_id)
    evaluated = 0
    original = secrets.matches

    def counting(purpose: str, value: str, digest: str) -> bool:
        nonlocal evaluated
        evaluated += 1
        return original(purpose, value, digest)

    monkeypatch.setattr(secrets, "matches", counting)
    backoffs = 0
    for attempt in range(1000):
        wrong = f"{(int(real) + 1 + attempt) % 1_000_000:06d}"
        try:
            with unit_of_work(runtime.sessions) as db:
                patients.check_second_factor(db, account.id, wrong, now, secrets)
        except patients.BackingOff as waiting:
            backoffs += 1
            assert waiting.retry_after >= 30
        except patients.CodeRefused:
            pass
    assert evaluated == 5 and backoffs == 995
    # Even the right code waits while the backoff runs: it is not looked at.
    with pytest.raises(patients.BackingOff), unit_of_work(runtime.sessions) as db:
        patients.check_second_factor(db, account.id, real, now, secrets)
    assert evaluated == 5
    assert journal_reasons(runtime, "auth:login").count("backoff") == 996


def test_backoff_grows_and_is_lifted_by_recovery_not_a_permanent_lock(runtime: Runtime, clock: FrozenClock) -> None:
    assert [throttle.backoff_after(n).total_seconds() for n in (4, 5, 6, 7, 30)] == [0, 30, 60, 120, 3600]
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)
    for _ in range(5):
        with pytest.raises(patients.LoginRefused), unit_of_work(runtime.sessions) as db:
            patients.check_password(db, account.login_id, "wrong password!", clock.now(), secrets)
    with pytest.raises(patients.BackingOff), unit_of_work(runtime.sessions) as db:
        patients.check_password(db, account.login_id, PASSWORD, clock.now(), secrets)
    # Recovery through the verified phone clears it at once.
    with unit_of_work(runtime.sessions) as db:
        assert patients.start_password_recovery(db, account.login_id, clock.now(), secrets) == account.id
    with unit_of_work(runtime.sessions) as db:
        patients.complete_password_recovery(
            db, account.id, last_code(runtime, record_id), "a brand new passphrase", clock.now(), secrets
        )
    assert login(runtime, account.login_id, secrets, "a brand new passphrase") == Actor.patient(ins)


def test_unknown_identifiers_cost_one_argon2_check_and_are_counted_alike(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    dummy_checks = 0

    def counted() -> None:
        nonlocal dummy_checks
        dummy_checks += 1

    secrets.on_dummy_check = counted
    for _ in range(5):
        with pytest.raises(patients.LoginRefused) as refused, unit_of_work(runtime.sessions) as db:
            patients.check_password(db, "NOBODY2345", PASSWORD, runtime.clock.now(), secrets)
        assert refused.value.message == "identifiant ou mot de passe incorrect"
    assert dummy_checks == 5
    with pytest.raises(patients.BackingOff), unit_of_work(runtime.sessions) as db:
        patients.check_password(db, "NOBODY2345", PASSWORD, runtime.clock.now(), secrets)


def test_address_limits_answer_wait_when_a_window_is_full() -> None:
    limiter = throttle.AddressLimiter("3/minute")
    assert [limiter.hit("192.0.2.1", "login") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("192.0.2.1", "login")
    assert wait is not None and 1 <= wait.seconds <= 60
    assert limiter.hit("192.0.2.2", "login") is None


# ---------------------------------------------------------------- sessions


def test_password_change_revokes_other_sessions(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)
    policy = login_sessions.SessionPolicy.from_settings(runtime.settings)
    now = runtime.clock.now()
    with unit_of_work(runtime.sessions) as db:
        here = login_sessions.start(
            db, Actor.patient(ins), SessionStage.AUTHENTICATED, now, policy, secrets.random, account_id=account.id
        )
        elsewhere = login_sessions.start(
            db, Actor.patient(ins), SessionStage.AUTHENTICATED, now, policy, secrets.random, account_id=account.id
        )
    with unit_of_work(runtime.sessions) as db:
        patients.change_password(db, account.id, PASSWORD, "another good passphrase", now, secrets, keep_session=here)
    with unit_of_work(runtime.sessions) as db:
        assert login_sessions.current(db, here, now, policy, stage=SessionStage.AUTHENTICATED).actor == Actor.patient(
            ins
        )
        with pytest.raises(login_sessions.SessionInvalid) as gone:
            login_sessions.current(db, elsewhere, now, policy, stage=SessionStage.AUTHENTICATED)
    assert gone.value.reason == "revoked"


def test_sessions_end_after_idle_and_absolute_timeouts_and_when_the_account_is_disabled(
    runtime: Runtime, clock: FrozenClock
) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)
    policy = login_sessions.SessionPolicy(timedelta(minutes=30), timedelta(hours=12), timedelta(minutes=10))

    def new() -> str:
        with unit_of_work(runtime.sessions) as db:
            return login_sessions.start(
                db,
                Actor.patient(ins),
                SessionStage.AUTHENTICATED,
                clock.now(),
                policy,
                secrets.random,
                account_id=account.id,
            )

    def reason(token: str) -> str | None:
        try:
            with unit_of_work(runtime.sessions) as db:
                login_sessions.current(db, token, clock.now(), policy, stage=SessionStage.AUTHENTICATED)
        except login_sessions.SessionInvalid as invalid:
            return invalid.reason
        return None

    idle = new()
    clock.advance(timedelta(minutes=30))
    assert reason(idle) == "idle"
    active = new()
    for _ in range(25):  # active every 29 minutes, yet the absolute timeout ends it at 12 hours
        clock.advance(timedelta(minutes=29))
        if reason(active) is not None:
            break
    assert reason(active) == "expired"
    live = new()
    with unit_of_work(runtime.sessions) as db:
        patients.disable_account(db, AGENT, record_id, clock.now())
    assert reason(live) == "revoked"
    with unit_of_work(runtime.sessions) as db:
        stored = db.execute(select(AuthSession.digest)).scalars().all()
    assert live not in stored and all(len(d) == 64 for d in stored)  # only digests are kept


def test_a_counter_agent_recovers_an_account_and_it_is_journaled(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)
    with unit_of_work(runtime.sessions) as db:
        credentials = patients.recover_by_agent(db, AGENT, record_id, runtime.clock.now(), secrets)
    assert credentials.login_id == account.login_id
    with unit_of_work(runtime.sessions) as db:
        entry = db.execute(select(JournalEntry).where(JournalEntry.action == "auth:recovery")).scalar_one()
    assert (entry.actor_id, entry.actor_kind, entry.reason) == ("agent-cpam-75", "counter-agent", "by-counter-agent")
    assert entry.chain == record_id.hex
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions) as db:
        patients.recover_by_agent(db, Actor.patient(ins), record_id, runtime.clock.now(), secrets)


# ---------------------------------------------------------------- profiles and delegations


def test_a_parent_acts_on_the_childs_record(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    parent_ins, parent_record = a_record(runtime)
    child_ins, child_traits = f.minor(runtime.clock.now().date(), given="LEA")
    child = f.open_record(
        runtime,
        AGENT,
        child_ins,
        child_traits,
        representatives=(RepresentativeIn(parent_ins, "MARTIN", "CLAIRE"),),
    ).record.id
    account = activate(runtime, parent_record, parent_ins, secrets)
    parent = login(runtime, account.login_id, secrets)
    with unit_of_work(runtime.sessions) as db:
        mine = delegations.records_of(db, parent)
    assert [(r.record_id, r.relation) for r in mine] == [(parent_record, "holder"), (child, "representative")]
    with unit_of_work(runtime.sessions) as db:
        documents.search_documents(db, parent, child, documents.DocumentQuery(), runtime.clock.now())
    with unit_of_work(runtime.sessions) as db:
        entry = (
            db.execute(
                select(JournalEntry).where(JournalEntry.chain == child.hex, JournalEntry.actor_id == parent_ins.value)
            )
            .scalars()
            .all()[-1]
        )
    # The journal names the login (the parent) in the child's chain, and why: the patient's own access.
    assert (entry.actor_kind, entry.purpose) == ("patient", "patient-access")


def test_a_revoked_delegation_gives_nothing(runtime: Runtime) -> None:
    """A caregiver reads while the delegation runs, and nothing once the holder revokes it."""
    secrets = auth_secrets(runtime)
    holder_ins, record_id = a_record(runtime)
    carer_ins, carer_record = a_record(runtime)
    holder = Actor.patient(holder_ins)
    carer_account = activate(runtime, carer_record, carer_ins, secrets)
    carer = login(runtime, carer_account.login_id, secrets)
    doctor = Actor.professional("10000000002", "10")
    f.authorise(runtime, record_id, doctor)
    submit(runtime, record_id, doctor)
    now = runtime.clock.now()
    with unit_of_work(runtime.sessions) as db:
        delegation = delegations.grant_delegation(db, holder, record_id, carer_ins, "Paul Aidant", now)
    with unit_of_work(runtime.sessions) as db:
        assert (record_id, "delegate") in [(r.record_id, r.relation) for r in delegations.records_of(db, carer)]
        _, total = documents.search_documents(db, carer, record_id, documents.DocumentQuery(), now)
    assert total == 1
    # A caregiver reads; consents stay the holder's.
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions) as db:
        delegations.grant_delegation(db, carer, record_id, Ins(carer_ins.system, f.make_nir()), "X Y", now)
    with unit_of_work(runtime.sessions) as db:
        delegations.revoke_delegation(db, holder, record_id, delegation.id, now)
    with unit_of_work(runtime.sessions) as db:
        assert record_id not in [r.record_id for r in delegations.records_of(db, carer)]
    with pytest.raises(HiddenFromActor), unit_of_work(runtime.sessions) as db:
        documents.search_documents(db, carer, record_id, documents.DocumentQuery(), now)
    assert journal_reasons(runtime, "delegation:grant") == [None]


# ---------------------------------------------------------------- housekeeping


def test_the_auth_purge_job_forgets_expired_login_rows_and_keeps_live_ones(
    runtime: Runtime, clock: FrozenClock
) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime)
    account = activate(runtime, record_id, ins, secrets)  # its contact code is now used
    establishment(runtime)
    client_id = uuid.UUID(register(runtime, client_key()))
    now = clock.now()
    policy = login_sessions.SessionPolicy.from_settings(runtime.settings)
    day, minute = timedelta(days=1), timedelta(minutes=1)
    with unit_of_work(runtime.sessions) as db:
        patients.send_login_code(db, account.id, now, secrets)  # live
        db.add(
            OneTimeCode(
                record_id=record_id,
                account_id=account.id,
                purpose="recovery",
                digest="0" * 64,
                channel="sms",
                created_at=now - 2 * CODE_STEP,
                expires_at=now - CODE_STEP,
            )
        )
        login_sessions.start(db, Actor.patient(ins), SessionStage.AUTHENTICATED, now - 2 * day, policy, secrets.random)
        login_sessions.start(db, Actor.patient(ins), SessionStage.AUTHENTICATED, now, policy, secrets.random)
        for name, expires in (("expired", now - minute), ("live", now + minute)):
            db.add(
                PendingLogin(
                    state_digest=name,
                    provider="staff",
                    browser="b",
                    nonce="n",
                    code_verifier="v",
                    created_at=now - 2 * minute,
                    expires_at=expires,
                )
            )
            db.add(ClientAssertionJti(client_id=client_id, jti=name, expires_at=expires))
        db.add_all(
            [
                LoginThrottle(subject="stale", failures=3, last_failure_at=now - 2 * day),
                LoginThrottle(subject="recent", failures=3, last_failure_at=now - minute),
                LoginThrottle(
                    subject="backing-off", failures=30, last_failure_at=now - 2 * day, backoff_until=now + day
                ),
            ]
        )
    [result] = run_jobs(runtime.job_context(), now, ["auth-purge"])
    assert (result.name, result.done, result.failed) == ("auth-purge", 6, 0)
    with unit_of_work(runtime.sessions) as db:
        assert [c.purpose for c in db.execute(select(OneTimeCode)).scalars()] == ["login"]
        assert [s.created_at for s in db.execute(select(AuthSession)).scalars()] == [now]
        assert db.execute(select(PendingLogin.state_digest)).scalars().all() == ["live"]
        assert db.execute(select(ClientAssertionJti.jti)).scalars().all() == ["live"]
        assert sorted(db.execute(select(LoginThrottle.subject)).scalars()) == ["backing-off", "recent"]
