"""Errors of the document module."""

from __future__ import annotations

from opendmp.kit.errors import BusinessRuleViolation, Conflict, ErrorKind, InvalidInput, NotFound


class DocumentNotFound(NotFound):
    pass


class DuplicateDocument(Conflict):
    """The producer's unique id is already used by different content."""


class ContentMismatch(InvalidInput):
    """Declared size or hash does not match the bytes."""


class UnsupportedContent(InvalidInput):
    """A MIME type we do not store, or bytes that are not what the MIME type says."""


class ContentTooLarge(InvalidInput):
    kind = ErrorKind.TOO_LARGE


class MetadataConflict(BusinessRuleViolation):
    """The metadata and the document's own header (CDA) disagree."""


class VersionConflict(BusinessRuleViolation):
    kind = ErrorKind.PRECONDITION
