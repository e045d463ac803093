"""Errors of notifications: nouns, no HTTP (each edge maps them by their kind)."""

from __future__ import annotations

from opendmp.kit.errors import BusinessRuleViolation, DomainError, ErrorKind, InvalidInput, NotFound


class InvalidContact(InvalidInput):
    """Not an email address or a mobile phone number we can send to."""


class UnknownRepresentative(NotFound):
    """No current legal representative of this record has that id."""


class NotificationRequired(BusinessRuleViolation):
    """Emergency accesses are always notified: their channels can change, not be turned off."""


class MessageNotFound(NotFound):
    pass


class SenderNotConfigured(DomainError):
    """The settings do not say how to send (production names its senders; SMTP needs a host)."""

    kind = ErrorKind.PRECONDITION
