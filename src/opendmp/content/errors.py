"""Errors of the patient's content."""

from __future__ import annotations

from opendmp.kit.errors import BusinessRuleViolation, Conflict, ErrorKind, InvalidInput, NotFound


class ContentNotFound(NotFound):
    pass


class ContentConflict(Conflict):
    """A second blood group, or a change made against an older version (If-Match)."""


class StaleVersion(BusinessRuleViolation):
    """If-Match named an older version: someone changed the item meanwhile (412)."""

    kind = ErrorKind.PRECONDITION


class MissingAnswers(InvalidInput):
    """A directives questionnaire without some mandatory answers: `fields` names each of them."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"missing mandatory answers: {', '.join(fields)}", field=fields[0])
        self.fields = tuple(fields)
