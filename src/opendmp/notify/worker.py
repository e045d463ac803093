"""The outbox worker: claim due messages, send each, mark it; retry failures with exponential
backoff, give up after a maximum (status failed, listed by `opendmp notify failed`).

Claim and lease (docs/decisions/0012-notification-outbox.md):
1. one short transaction claims a batch: rows pending and due, or claimed by a worker whose lease
   ended, are locked (FOR UPDATE SKIP LOCKED on PostgreSQL, so workers take disjoint rows; on
   SQLite BEGIN IMMEDIATE serialises claims), set to `sending` with this claim's token, one more
   attempt, and next_attempt_at = now + lease;
2. each message is sent outside any transaction (a slow relay holds no lock), then marked sent
   in its own transaction, only if the row still carries this claim's token.
A worker that dies after claiming leaves its unsent messages claimed: another takes them after
the lease, and each is sent once. The remaining window is a death after the relay accepted a
message and before its mark commits: that one message is sent again, with the same Message-ID
(the file sender rewrites the same file).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from opendmp.config import Settings
from opendmp.kit.clock import Clock
from opendmp.kit.db import unit_of_work
from opendmp.kit.failpoints import failpoint
from opendmp.kit.logging import get_logger
from opendmp.notify.models import ChannelKind, OutboxMessage, OutboxStatus
from opendmp.notify.senders import Outgoing, Senders, SendFailure

log = get_logger("opendmp.notify")

RETRY_CAP = timedelta(hours=6)
SENT_RETENTION = timedelta(days=30)  # sent messages hold addresses: kept a month for support, then gone
FAILED_RETENTION = timedelta(days=90)
BATCH = 50


@dataclass(frozen=True, slots=True)
class Delivery:
    lease: timedelta
    max_attempts: int
    retry_base: timedelta
    portal_url: str
    batch: int = BATCH

    @classmethod
    def from_settings(cls, settings: Settings) -> Delivery:
        return cls(
            lease=timedelta(seconds=settings.notify_lease_seconds),
            max_attempts=settings.notify_max_attempts,
            retry_base=timedelta(seconds=settings.notify_retry_base_seconds),
            portal_url=settings.public_base_url,
        )


@dataclass(slots=True)
class SendReport:
    sent: int = 0
    retried: int = 0  # failed this time, due again later
    failed: int = 0  # gave up
    lost: int = 0  # sent, but the lease had passed to another worker before the mark

    def add(self, other: SendReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.lost += other.lost


def backoff(attempts: int, base: timedelta) -> timedelta:
    """base, 2·base, 4·base… after the 1st, 2nd, 3rd failed attempt; at most RETRY_CAP."""
    delay: timedelta = base * (2 ** max(attempts - 1, 0))
    return min(delay, RETRY_CAP)


@dataclass(frozen=True, slots=True)
class Claimed:
    message: Outgoing
    attempts: int


def claim(sessions: sessionmaker[Session], now: datetime, delivery: Delivery) -> tuple[str, list[Claimed], int]:
    """Claim up to a batch of due messages. Returns the claim token, the messages to send, and how
    many rows the claim touched (messages whose every attempt was lost are marked failed)."""
    token = str(uuid.uuid4())
    claimed: list[Claimed] = []
    with unit_of_work(sessions) as session:
        rows = list(
            session.execute(
                select(OutboxMessage)
                .where(
                    OutboxMessage.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]),
                    OutboxMessage.next_attempt_at <= now,
                )
                .order_by(OutboxMessage.next_attempt_at)
                .limit(delivery.batch)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        for row in rows:
            if row.attempts >= delivery.max_attempts:
                # Claimed that many times and never marked: the sender kills its workers.
                row.status, row.claimed_by = OutboxStatus.FAILED.value, None
                row.last_error = f"gave up after {row.attempts} attempts whose worker stopped while sending"
                continue
            row.status = OutboxStatus.SENDING.value
            row.attempts += 1
            row.claimed_by = token
            row.next_attempt_at = now + delivery.lease
            claimed.append(Claimed(_outgoing(row, delivery.portal_url), row.attempts))
    return token, claimed, len(rows)


def _outgoing(row: OutboxMessage, portal_url: str) -> Outgoing:
    channel = ChannelKind(row.channel)
    # The pointer to log in is the deployment's: added here, not stored with the event's text.
    body = (
        f"{row.body}\n-- \nVotre espace DMP : {portal_url}\n"
        if channel is ChannelKind.EMAIL
        else f"{row.body} {portal_url}"
    )
    return Outgoing(row.id, channel, row.address, row.subject, body, row.created_at)


def send_due(sessions: sessionmaker[Session], senders: Senders, clock: Clock, delivery: Delivery) -> SendReport:
    """Send every message due now, batch after batch; returns what happened."""
    report = SendReport()
    try:
        while True:
            token, batch, touched = claim(sessions, clock.now(), delivery)
            started = time.monotonic()
            for item in batch:
                # Past half the lease, leave the rest claimed and unsent: claimed again after it.
                if time.monotonic() - started > delivery.lease.total_seconds() / 2:
                    break
                report.add(_deliver(sessions, senders, clock, delivery, token, item))
            if touched < delivery.batch:
                return report
    finally:
        senders.close()


def _deliver(
    sessions: sessionmaker[Session], senders: Senders, clock: Clock, delivery: Delivery, token: str, item: Claimed
) -> SendReport:
    message = item.message
    failpoint("notify.after-claim")  # claimed, nothing sent yet
    try:
        senders.of(message.channel).send(message)
    except SendFailure as failure:
        return _failed(sessions, clock, delivery, token, item, failure)
    except Exception as error:  # a sender's bug must not hold back the rest of the batch
        return _failed(sessions, clock, delivery, token, item, SendFailure(f"{type(error).__name__}: {error}"))
    failpoint("notify.after-send")  # sent, not yet marked: the at-least-once window
    with unit_of_work(sessions) as session:
        marked = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.claimed_by == token)
            .values(status=OutboxStatus.SENT.value, sent_at=clock.now(), claimed_by=None, last_error=None)
        ).rowcount  # type: ignore[attr-defined]
    if not marked:
        log.warning("notification.lease_lost", id=str(message.id))
        return SendReport(lost=1)
    log.debug("notification.sent", id=str(message.id), channel=message.channel.value)
    return SendReport(sent=1)


def _failed(
    sessions: sessionmaker[Session],
    clock: Clock,
    delivery: Delivery,
    token: str,
    item: Claimed,
    failure: SendFailure,
) -> SendReport:
    now = clock.now()
    give_up = failure.permanent or item.attempts >= delivery.max_attempts
    with unit_of_work(sessions) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == item.message.id, OutboxMessage.claimed_by == token)
            .values(
                status=(OutboxStatus.FAILED if give_up else OutboxStatus.PENDING).value,
                next_attempt_at=now if give_up else now + backoff(item.attempts, delivery.retry_base),
                claimed_by=None,
                last_error=failure.reason[:500],
            )
        )
    # The reason may quote an address: it stays in the row, for operators, not in the logs.
    log.info("notification.failed", id=str(item.message.id), attempts=item.attempts, gave_up=give_up)
    return SendReport(failed=1) if give_up else SendReport(retried=1)


def prune(sessions: sessionmaker[Session], now: datetime) -> int:
    """Forget sent messages after SENT_RETENTION and failed ones after FAILED_RETENTION."""
    with unit_of_work(sessions) as session:
        removed = session.execute(
            delete(OutboxMessage).where(
                ((OutboxMessage.status == OutboxStatus.SENT.value) & (OutboxMessage.sent_at < now - SENT_RETENTION))
                | (
                    (OutboxMessage.status == OutboxStatus.FAILED.value)
                    & (OutboxMessage.next_attempt_at < now - FAILED_RETENTION)
                )
            )
        ).rowcount  # type: ignore[attr-defined]
    return int(removed or 0)


class RunningClock:
    """`start`, moving on with the real time elapsed: a job handed one `now` still needs leases
    measured from the real moment of each claim."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)
