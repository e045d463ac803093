"""Guessing costs time. Two layers:

- per login subject, in the database (so every process sees it): after FREE_FAILURES
  consecutive failures each further attempt waits an exponentially growing delay (capped at
  MAX_BACKOFF); while it runs the attempt is refused *before* any password or code is evaluated.
  It is not a permanent lock (which anyone knowing an identifier could impose on its holder):
  the delay expires, and a recovery through a verified channel clears the counter at once.
- per source address, in memory with `limits` (a moving window): enough for one process; several
  processes each keep their own window, so the effective limit is multiplied by their number —
  the per-subject counter is the one that holds across processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session

from opendmp.auth.account_models import LoginThrottle

FREE_FAILURES = 5
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Wait:
    """Come back later: `seconds` for the Retry-After header."""

    seconds: int


def backoff_after(failures: int) -> timedelta:
    """The wait after `failures` consecutive failures: none up to FREE_FAILURES, then 30 s, 1 min,
    2 min, … up to an hour."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    doublings = min(failures - FREE_FAILURES, 16)  # 30 s × 2^16 is far past the cap already
    return min(BASE_BACKOFF * (1 << doublings), MAX_BACKOFF)


def _row(session: Session, subject: str, *, lock: bool) -> LoginThrottle | None:
    return session.get(LoginThrottle, subject, with_for_update=lock)


def waiting(session: Session, subject: str, at: datetime) -> Wait | None:
    """A Wait while the subject is backing off, else None (the attempt may be evaluated). The row
    is locked, so two processes cannot both evaluate the attempt that the counter allows."""
    row = _row(session, subject, lock=True)
    if row is None or row.backoff_until is None or row.backoff_until <= at:
        return None
    return Wait(max(1, int((row.backoff_until - at).total_seconds() + 0.999)))


def record_failure(session: Session, subject: str, at: datetime) -> int:
    """Count one more consecutive failure; returns the count."""
    row = _row(session, subject, lock=True)
    if row is None:
        row = LoginThrottle(subject=subject, failures=0)
        session.add(row)
    row.failures = (row.failures or 0) + 1
    row.last_failure_at = at
    delay = backoff_after(row.failures)
    row.backoff_until = at + delay if delay else None
    session.flush()
    return row.failures


def spend(session: Session, subject: str, at: datetime, *, limit: int, per: timedelta) -> Wait | None:
    """Count one use of something capped per window (recovery codes sent: each one is an SMS or
    an email to the real holder). A Wait once `limit` were spent in the window that began with
    the first of them; the row reuses the counter's columns (failures = uses, last_failure_at =
    the window's start)."""
    row = _row(session, subject, lock=True)
    if row is None:
        row = LoginThrottle(subject=subject, failures=0)
        session.add(row)
    if row.last_failure_at is None or row.last_failure_at + per <= at:
        row.failures, row.last_failure_at = 0, at
    if row.failures >= limit:
        assert row.last_failure_at is not None
        return Wait(max(1, int((row.last_failure_at + per - at).total_seconds() + 0.999)))
    row.failures += 1
    session.flush()
    return None


def clear(session: Session, subject: str) -> None:
    """A success (or a recovery) ends the run of failures."""
    row = _row(session, subject, lock=True)
    if row is not None and (row.failures or row.backoff_until):
        row.failures, row.backoff_until = 0, None
        session.flush()


class AddressLimiter:
    """Per-address moving windows (e.g. "30/minute;300/hour"), in this process's memory."""

    def __init__(self, spec: str) -> None:
        self._limits = parse_many(spec)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, address: str | None, scope: str) -> Wait | None:
        """Count one request from `address`; a Wait when a window is full."""
        key = address or "unknown"
        for limit in self._limits:
            if not self._limiter.hit(limit, scope, key):
                reset, _ = self._limiter.get_window_stats(limit, scope, key)
                return Wait(max(1, int(reset - time.time() + 0.999)))
        return None
