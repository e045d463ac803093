"""Errors of the record lifecycle: nouns, no HTTP (each edge maps them by their kind)."""

from __future__ import annotations

from opendmp.kit.errors import BusinessRuleViolation, Conflict, ErrorKind, InvalidInput, NotFound


class RecordAlreadyExists(Conflict):
    """One record per person (per INS)."""


class RecordNotFound(NotFound):
    pass


class RecordRefused(BusinessRuleViolation):
    """The person objected to (or deleted) their record: no automatic opening."""


class RecordClosed(BusinessRuleViolation):
    pass


class InvalidTransition(BusinessRuleViolation):
    """The record's status does not allow this step."""


class ObjectionWindowClosed(BusinessRuleViolation):
    pass


class ChannelMismatch(BusinessRuleViolation):
    pass


class TooManyRepresentatives(BusinessRuleViolation):
    pass


class RetentionNotOver(BusinessRuleViolation):
    pass


class AmbiguousTraits(BusinessRuleViolation):
    """Two records share the five traits: only the INS can tell them apart."""


class InvalidConsent(InvalidInput):
    pass


class UnknownProfession(InvalidInput):
    pass


class StaleVersion(BusinessRuleViolation):
    kind = ErrorKind.PRECONDITION
