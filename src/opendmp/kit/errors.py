"""The base of every domain error. Domain errors carry no HTTP: each edge maps them once.

`kind` says what went wrong in terms every edge understands (the FHIR edge turns it into a
status and an OperationOutcome issue code, the CLI into an exit code). `field` names the
input at fault when there is one. `keep_journal` marks refusals whose journal entry must be
committed even though the request fails (a refused read is traced, ARCHITECTURE rule 3).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    INVALID = "invalid"  # malformed or invalid input
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"  # the actor sees the target but may not do this
    NOT_FOUND = "not-found"  # missing, or not permitted to see (never tells which)
    CONFLICT = "conflict"
    PRECONDITION = "precondition"
    BUSINESS_RULE = "business-rule"  # well-formed but against a rule of the domain
    TOO_LARGE = "too-large"
    TOO_MANY_REQUESTS = "too-many-requests"  # a rate limit: come back after `retry_after` seconds


class DomainError(Exception):
    kind: ErrorKind = ErrorKind.BUSINESS_RULE
    keep_journal: bool = False

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # Writes to redo in a fresh transaction once the failed one is rolled back: the journal
        # entry of a refusal that may come after other writes of the same transaction (a bundle's
        # second document), which must not commit with it.
        self.replay: list[Callable[[Any], None]] = []


class TooManyRequests(DomainError):
    """Over a rate limit: refused before any work (and before any journal entry)."""

    kind = ErrorKind.TOO_MANY_REQUESTS

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests: try again later")
        self.retry_after = retry_after


class InvalidInput(DomainError):
    kind = ErrorKind.INVALID


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND


class AccessDenied(DomainError):
    """A refusal already journaled: the edge commits the journal entry, then answers."""

    kind = ErrorKind.FORBIDDEN
    keep_journal = True


class HiddenFromActor(DomainError):
    """The actor may not even know the target exists: answered exactly like NotFound, journaled."""

    kind = ErrorKind.NOT_FOUND
    keep_journal = True


class Conflict(DomainError):
    kind = ErrorKind.CONFLICT


class BusinessRuleViolation(DomainError):
    kind = ErrorKind.BUSINESS_RULE
