"""Typed shapes of the patient's content, shared by the FHIR edge, the CLI and the portal.
Each `check` refuses bad input naming the FHIR element at fault (the API's fields; the portal
shows the message)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from opendmp.content import codes
from opendmp.identity.service import validate_rpps
from opendmp.kit.errors import InvalidInput

MAX_TEXT = 2000
MAX_NOTE = 10_000
_PHONE = re.compile(r"^\+?[0-9 .()-]{6,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ContentKind(StrEnum):
    BLOOD_GROUP = "blood-group"
    ALLERGY = "allergy"
    PERSON_TO_NOTIFY = "person-to-notify"
    TREATMENT = "treatment"
    NOTE = "note"
    VACCINATION = "vaccination"
    ADVANCE_DIRECTIVES = "advance-directives"  # the questionnaire's answers behind each version


class ReportOrigin(StrEnum):
    """FHIR immunization-origin: where a dose not recorded by its giver comes from."""

    PROVIDER = "provider"
    RECORD = "record"  # a written record (the paper carnet)
    RECALL = "recall"  # the patient's memory


def _text(value: str | None, field: str, limit: int = MAX_TEXT, *, required: bool = False) -> None:
    if value is None or not value.strip():
        if required:
            raise InvalidInput(f"{field} is required", field=field)
        return
    if len(value) > limit:
        raise InvalidInput(f"{field} is at most {limit} characters", field=field)


def _past(day: date | None, today: date, field: str, born: date | None = None) -> None:
    if day is None:
        return
    if day > today:
        raise InvalidInput(f"{field} is in the future ({day.isoformat()})", field=field)
    if born is not None and day < born:
        raise InvalidInput(f"{field} is before the patient's birth ({day.isoformat()})", field=field)


@dataclass(frozen=True, slots=True)
class BloodGroup:
    code: str  # SNOMED CT, content_codes.csv "blood-group"
    observed_on: date | None = None

    kind = ContentKind.BLOOD_GROUP

    def check(self, today: date, born: date) -> None:
        codes.known("blood-group", codes.SNOMED, self.code, field="Observation.valueCodeableConcept")
        _past(self.observed_on, today, "Observation.effectiveDateTime", born)


@dataclass(frozen=True, slots=True)
class Allergy:
    substance_code: str | None = None  # SNOMED CT, content_codes.csv "allergen"
    text: str | None = None  # the patient's own words when no code fits
    category: str = "allergy"  # FHIR AllergyIntolerance.type: allergy | intolerance
    criticality: str | None = None  # low | high | unable-to-assess
    reaction: str | None = None
    onset: date | None = None

    kind = ContentKind.ALLERGY

    def check(self, today: date, born: date) -> None:
        if self.substance_code is None and not (self.text or "").strip():
            raise InvalidInput("AllergyIntolerance.code needs a coding or a text", field="AllergyIntolerance.code")
        if self.substance_code is not None:
            codes.known("allergen", codes.SNOMED, self.substance_code, field="AllergyIntolerance.code")
        _text(self.text, "AllergyIntolerance.code.text")
        if self.category not in ("allergy", "intolerance"):
            raise InvalidInput("AllergyIntolerance.type is allergy or intolerance", field="AllergyIntolerance.type")
        if self.criticality not in (None, "low", "high", "unable-to-assess"):
            raise InvalidInput(
                "AllergyIntolerance.criticality is low, high or unable-to-assess",
                field="AllergyIntolerance.criticality",
            )
        _text(self.reaction, "AllergyIntolerance.reaction")
        _past(self.onset, today, "AllergyIntolerance.onsetDateTime", born)


@dataclass(frozen=True, slots=True)
class PersonToNotify:
    name: str
    relationship: str | None = None  # v3 RoleCode (or v2-0131 C), content_codes.csv "relationship"
    phone: str | None = None
    email: str | None = None

    kind = ContentKind.PERSON_TO_NOTIFY

    def check(self, today: date, born: date) -> None:
        _text(self.name, "RelatedPerson.name", 200, required=True)
        if self.relationship is not None and not any(
            c.code == self.relationship for c in codes.codes_for("relationship")
        ):
            raise InvalidInput(f"unknown relationship code {self.relationship}", field="RelatedPerson.relationship")
        self.check_contact("RelatedPerson.telecom")

    def check_contact(self, field: str) -> None:
        if not self.phone and not self.email:
            raise InvalidInput(f"{field}: a phone number or an email is needed to reach this person", field=field)
        if self.phone and not _PHONE.match(self.phone):
            raise InvalidInput(f"{field}: {self.phone!r} is not a phone number", field=field)
        if self.email and not _EMAIL.match(self.email):
            raise InvalidInput(f"{field}: {self.email!r} is not an email address", field=field)


@dataclass(frozen=True, slots=True)
class Treatment:
    medication_code: str | None = None  # ATC, content_codes.csv "medication"
    text: str | None = None
    dosage: str | None = None
    since: date | None = None

    kind = ContentKind.TREATMENT

    def check(self, today: date, born: date) -> None:
        if self.medication_code is None and not (self.text or "").strip():
            raise InvalidInput(
                "MedicationStatement.medicationCodeableConcept needs a coding or a text",
                field="MedicationStatement.medicationCodeableConcept",
            )
        if self.medication_code is not None:
            codes.known(
                "medication", codes.ATC, self.medication_code, field="MedicationStatement.medicationCodeableConcept"
            )
        _text(self.text, "MedicationStatement.medicationCodeableConcept.text")
        _text(self.dosage, "MedicationStatement.dosage")
        _past(self.since, today, "MedicationStatement.effectivePeriod.start", born)


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    title: str | None = None

    kind = ContentKind.NOTE

    def check(self, today: date, born: date) -> None:
        _text(self.text, "note.text", MAX_NOTE, required=True)
        _text(self.title, "note.title", 200)


@dataclass(frozen=True, slots=True)
class Vaccination:
    vaccine_code: str  # ATC J07, vaccines.csv
    on: date
    lot_number: str | None = None
    performer_rpps: str | None = None
    # Set by the service from who records it, never taken from the caller: a professional
    # records what they gave (primarySource true), a patient declares (false, with an origin).
    primary_source: bool = True
    report_origin: str | None = None
    note: str | None = None

    kind = ContentKind.VACCINATION

    def check(self, today: date, born: date) -> None:
        codes.vaccine(self.vaccine_code)
        _past(self.on, today, "Immunization.occurrenceDateTime", born)
        _text(self.lot_number, "Immunization.lotNumber", 40)
        if self.performer_rpps is not None:
            validate_rpps(self.performer_rpps, field="Immunization.performer.actor.identifier")
        if self.report_origin is not None and self.report_origin not in {o.value for o in ReportOrigin}:
            raise InvalidInput(
                "Immunization.reportOrigin is provider, record or recall", field="Immunization.reportOrigin"
            )
        _text(self.note, "Immunization.note")


@dataclass(frozen=True, slots=True)
class TrustedPerson:
    """The personne de confiance (CSP L1111-6), named in the advance directives."""

    name: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class DirectivesAnswers:
    """The questionnaire of the HAS model of advance directives (2016, updated 2022): each heading,
    the patient's answer in their words. Organ donation is optional; the others are mandatory."""

    situation: str  # "Ma situation" : health, what matters to me
    life_support: str  # maintien artificiel des fonctions vitales
    resuscitation: str  # réanimation
    pain_relief: str  # soulagement de la douleur
    sedation: str  # sédation profonde et continue jusqu'au décès
    trusted_person: TrustedPerson | None  # None only when the patient says they name none
    free_text: str
    organ_donation: str | None = None
    written_at: str | None = None  # the place the patient signs at ("Fait à …")


@dataclass(frozen=True, slots=True)
class DirectivesRecord:
    """Stored (encrypted) with each version: the answers and the document made from them."""

    document_id: uuid.UUID
    version: int
    answers: DirectivesAnswers


ContentData = BloodGroup | Allergy | PersonToNotify | Treatment | Note | Vaccination | DirectivesRecord

DATA_TYPES: dict[ContentKind, type[ContentData]] = {
    ContentKind.BLOOD_GROUP: BloodGroup,
    ContentKind.ALLERGY: Allergy,
    ContentKind.PERSON_TO_NOTIFY: PersonToNotify,
    ContentKind.TREATMENT: Treatment,
    ContentKind.NOTE: Note,
    ContentKind.VACCINATION: Vaccination,
    ContentKind.ADVANCE_DIRECTIVES: DirectivesRecord,
}


def kind_of(data: ContentData) -> ContentKind:
    return ContentKind.ADVANCE_DIRECTIVES if isinstance(data, DirectivesRecord) else data.kind


@dataclass(frozen=True, slots=True)
class ContentItem:
    """One stored item, decrypted: what services hand out."""

    id: uuid.UUID
    record_id: uuid.UUID
    kind: ContentKind
    version: int
    status: str
    recorded_at: datetime
    recorded_by_kind: str
    recorded_by: str
    updated_at: datetime
    data: ContentData
