"""Forgetting what the logins no longer need: rows past their end would otherwise pile up (one
throttle row per identifier anyone ever typed, one session per login). Run by the `auth-purge`
job; flushes, never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from opendmp.auth.account_models import AuthSession, LoginThrottle, OneTimeCode
from opendmp.auth.models import ClientAssertionJti
from opendmp.auth.staff_models import PendingLogin

# A throttle row whose last failure is this old and whose backoff has ended holds nothing worth
# keeping: forgetting it restarts the count, one free guess a day at most.
STALE_THROTTLE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Purged:
    sessions: int
    codes: int
    pending_logins: int
    throttles: int
    assertions: int

    @property
    def total(self) -> int:
        return self.sessions + self.codes + self.pending_logins + self.throttles + self.assertions


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(session: Session, now: datetime) -> Purged:
    """Delete sessions past their absolute timeout (revoked or not), one-time codes used or
    expired, OpenID Connect logins never completed, stale throttle rows, and client assertions'
    jti past their expiry (a replay of those fails on `exp` already)."""
    sessions = session.execute(delete(AuthSession).where(AuthSession.expires_at <= now))
    codes = session.execute(
        delete(OneTimeCode).where(or_(OneTimeCode.used_at.is_not(None), OneTimeCode.expires_at <= now))
    )
    pending = session.execute(delete(PendingLogin).where(PendingLogin.expires_at <= now))
    throttles = session.execute(
        delete(LoginThrottle).where(
            or_(LoginThrottle.last_failure_at.is_(None), LoginThrottle.last_failure_at <= now - STALE_THROTTLE),
            or_(LoginThrottle.backoff_until.is_(None), LoginThrottle.backoff_until <= now),
        )
    )
    assertions = session.execute(delete(ClientAssertionJti).where(ClientAssertionJti.expires_at < now))
    session.flush()
    return Purged(_count(sessions), _count(codes), _count(pending), _count(throttles), _count(assertions))
