"""Errors of consents: nouns, no HTTP. Those marked keep_journal are refusals the journal keeps
even though the request fails (the issue asks that bad consent requests be journaled)."""

from __future__ import annotations

from opendmp.kit.errors import BusinessRuleViolation, InvalidInput, NotFound


class UnknownProfessional(InvalidInput):
    keep_journal = True


class NoSuchConsent(NotFound):
    keep_journal = True


class EmergencyReasonRequired(InvalidInput):
    keep_journal = True


class RecordNotWritable(BusinessRuleViolation):
    keep_journal = True
