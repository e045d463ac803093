"""The patient's content as FHIR R4 resources: Observation (blood group, LOINC 882-1),
AllergyIntolerance, RelatedPerson (people to notify), MedicationStatement, Immunization, the
emergency summary (a `collection` Bundle led by a Composition) and the vaccination schedule
(ImmunizationRecommendation). Parsing refuses what is wrong naming the element; codes and dates
are checked by the content schemas' `check` (the same for the portal and the CLI)."""

from __future__ import annotations

import html
import uuid
from datetime import date, datetime
from typing import Any

from opendmp.content import codes
from opendmp.content.schedule import DueStatus, ScheduleReport
from opendmp.content.schemas import (
    Allergy,
    BloodGroup,
    ContentData,
    ContentItem,
    ContentKind,
    Note,
    PersonToNotify,
    Treatment,
    Vaccination,
)
from opendmp.content.service import EmergencySummary
from opendmp.fhir.patient import parse_date, parse_datetime
from opendmp.identity.service import national_id_of, rpps_from_national_id, validate_rpps
from opendmp.journal.service import iso
from opendmp.kit.errors import InvalidInput

RESOURCE_OF_KIND = {
    ContentKind.BLOOD_GROUP: "Observation",
    ContentKind.ALLERGY: "AllergyIntolerance",
    ContentKind.PERSON_TO_NOTIFY: "RelatedPerson",
    ContentKind.TREATMENT: "MedicationStatement",
    ContentKind.VACCINATION: "Immunization",
}
KIND_OF_RESOURCE = {v: k for k, v in RESOURCE_OF_KIND.items()}
NATIONAL_ID_PS = "urn:oid:1.2.250.1.71.4.2.1"  # idNat_PS: 8 + RPPS
IMMUNIZATION_ORIGIN = "http://terminology.hl7.org/CodeSystem/immunization-origin"
FORECAST_STATUS = "http://terminology.hl7.org/CodeSystem/immunization-recommendation-status"
OPENDMP_FORECAST = "https://opendmp.fr/fhir/CodeSystem/forecast-status"  # "upcoming": not in HL7's example set
XHTML = "http://www.w3.org/1999/xhtml"


# ---------------------------------------------------------------- parsing


def _object(resource: dict[str, Any], key: str, field: str) -> dict[str, Any] | None:
    value = resource.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object", field=field)
    return value


def _list(resource: dict[str, Any], key: str, field: str) -> list[Any]:
    value = resource.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{field} must be an array", field=field)
    return value


def _string(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    return value


def _concept(resource: dict[str, Any], key: str, field: str) -> tuple[str | None, str | None, str | None]:
    """(system, code, text) of a CodeableConcept: its first coding."""
    concept = _object(resource, key, field)
    if concept is None:
        return None, None, None
    codings = _list(concept, "coding", f"{field}.coding")
    text = _string(concept.get("text"), f"{field}.text")
    if not codings:
        return None, None, text
    first = codings[0]
    if not isinstance(first, dict):
        raise InvalidInput(f"{field}.coding must hold Codings", field=field)
    system, code = _string(first.get("system"), f"{field}.coding.system"), _string(first.get("code"), field)
    if not system or not code:
        raise InvalidInput(f"{field}.coding needs a system and a code", field=field)
    return system, code, text


def _day(value: Any, field: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 10:
        return parse_date(value, field)
    return parse_datetime(value, field).date()


def subject_of(resource: dict[str, Any], resource_type: str) -> tuple[uuid.UUID | None, tuple[str, str] | None]:
    """The patient named by `patient` (or `subject`): `Patient/<id>`, or an INS identifier."""
    key = "subject" if resource_type in ("Observation", "MedicationStatement") else "patient"
    field = f"{resource_type}.{key}"
    reference = _object(resource, key, field)
    if reference is None:
        raise InvalidInput(f"{field} is required", field=field)
    text = _string(reference.get("reference"), f"{field}.reference")
    if text:
        try:
            return uuid.UUID(text.removeprefix("Patient/")), None
        except ValueError:
            raise InvalidInput(f"{field}.reference is Patient/<id>", field=field) from None
    identifier = _object(reference, "identifier", f"{field}.identifier")
    if identifier is not None:
        system, value = _string(identifier.get("system"), field), _string(identifier.get("value"), field)
        if system and value:
            return None, (system, value)
    raise InvalidInput(f"{field} needs a reference or an INS identifier", field=field)


def parse_content(resource: dict[str, Any]) -> ContentData:
    """A posted resource as the content it carries (codes and dates checked later, by `check`)."""
    resource_type = resource.get("resourceType")
    if resource_type == "Observation":
        system, code, _ = _concept(resource, "code", "Observation.code")
        if (system, code) != (codes.LOINC, codes.BLOOD_GROUP_LOINC):
            raise InvalidInput(
                "only the blood group (LOINC 882-1) is stored as an Observation", field="Observation.code"
            )
        value_system, value, _ = _concept(resource, "valueCodeableConcept", "Observation.valueCodeableConcept")
        if value is None or value_system != codes.SNOMED:
            raise InvalidInput(
                "Observation.valueCodeableConcept needs a SNOMED CT blood group",
                field="Observation.valueCodeableConcept",
            )
        return BloodGroup(value, _day(resource.get("effectiveDateTime"), "Observation.effectiveDateTime"))
    if resource_type == "AllergyIntolerance":
        system, code, text = _concept(resource, "code", "AllergyIntolerance.code")
        if code is not None and system != codes.SNOMED:
            raise InvalidInput(f"unknown code system {system} (SNOMED CT expected)", field="AllergyIntolerance.code")
        reactions = _list(resource, "reaction", "AllergyIntolerance.reaction")
        reaction = None
        if reactions and isinstance(reactions[0], dict):
            reaction = _string(reactions[0].get("description"), "AllergyIntolerance.reaction.description")
        return Allergy(
            substance_code=code,
            text=text,
            category=_string(resource.get("type"), "AllergyIntolerance.type") or "allergy",
            criticality=_string(resource.get("criticality"), "AllergyIntolerance.criticality"),
            reaction=reaction,
            onset=_day(resource.get("onsetDateTime"), "AllergyIntolerance.onsetDateTime"),
        )
    if resource_type == "RelatedPerson":
        names = _list(resource, "name", "RelatedPerson.name")
        name = None
        if names and isinstance(names[0], dict):
            first = names[0]
            name = _string(first.get("text"), "RelatedPerson.name.text")
            if not name:
                given = [g for g in _list(first, "given", "RelatedPerson.name.given") if isinstance(g, str)]
                family = _string(first.get("family"), "RelatedPerson.name.family")
                name = " ".join([*given, family or ""]).strip() or None
        relationships = _list(resource, "relationship", "RelatedPerson.relationship")
        relationship = None
        if relationships:
            if not isinstance(relationships[0], dict):
                raise InvalidInput(
                    "RelatedPerson.relationship holds CodeableConcepts", field="RelatedPerson.relationship"
                )
            _, relationship, _ = _concept({"r": relationships[0]}, "r", "RelatedPerson.relationship")
        phone = email = None
        for point in _list(resource, "telecom", "RelatedPerson.telecom"):
            if not isinstance(point, dict):
                raise InvalidInput("RelatedPerson.telecom holds ContactPoints", field="RelatedPerson.telecom")
            value = _string(point.get("value"), "RelatedPerson.telecom.value")
            if point.get("system") == "phone" and phone is None:
                phone = value
            elif point.get("system") == "email" and email is None:
                email = value
        return PersonToNotify(name or "", relationship, phone, email)
    if resource_type == "MedicationStatement":
        system, code, text = _concept(
            resource, "medicationCodeableConcept", "MedicationStatement.medicationCodeableConcept"
        )
        if code is not None and system != codes.ATC:
            raise InvalidInput(
                f"unknown code system {system} (ATC expected)", field="MedicationStatement.medicationCodeableConcept"
            )
        dosages = _list(resource, "dosage", "MedicationStatement.dosage")
        dosage = (
            _string(dosages[0].get("text"), "MedicationStatement.dosage.text")
            if dosages and isinstance(dosages[0], dict)
            else None
        )
        period = _object(resource, "effectivePeriod", "MedicationStatement.effectivePeriod") or {}
        since = _day(
            period.get("start") or resource.get("effectiveDateTime"), "MedicationStatement.effectivePeriod.start"
        )
        return Treatment(code, text, dosage, since)
    if resource_type == "Immunization":
        system, code, _ = _concept(resource, "vaccineCode", "Immunization.vaccineCode")
        if code is None:
            raise InvalidInput("Immunization.vaccineCode is required", field="Immunization.vaccineCode")
        codes.vaccine(code, system or "")
        occurred = _day(resource.get("occurrenceDateTime"), "Immunization.occurrenceDateTime")
        if occurred is None:
            raise InvalidInput("Immunization.occurrenceDateTime is required", field="Immunization.occurrenceDateTime")
        performer = None
        for entry in _list(resource, "performer", "Immunization.performer"):
            actor = entry.get("actor") if isinstance(entry, dict) else None
            identifier = actor.get("identifier") if isinstance(actor, dict) else None
            value = identifier.get("value") if isinstance(identifier, dict) else None
            if isinstance(value, str):
                field = "Immunization.performer.actor.identifier"
                performer = rpps_from_national_id(value) if len(value) == 12 else validate_rpps(value, field)
                break
        notes = _list(resource, "note", "Immunization.note")
        _, origin, _ = _concept(resource, "reportOrigin", "Immunization.reportOrigin")
        return Vaccination(
            vaccine_code=code,
            on=occurred,
            lot_number=_string(resource.get("lotNumber"), "Immunization.lotNumber"),
            performer_rpps=performer,
            report_origin=origin,
            note=_string(notes[0].get("text"), "Immunization.note.text")
            if notes and isinstance(notes[0], dict)
            else None,
        )
    raise InvalidInput(f"unsupported resource type {resource_type!r}", field="resourceType")


# ---------------------------------------------------------------- rendering


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _meta(item: ContentItem) -> dict[str, Any]:
    return {"versionId": str(item.version), "lastUpdated": iso(item.updated_at)}


def _patient(item: ContentItem) -> dict[str, str]:
    return {"reference": f"Patient/{item.record_id}"}


def _code(use: str, system: str, code: str) -> dict[str, Any]:
    known = codes.known(use, system, code, field="code")
    return {"coding": [_coding(system, code, known.display_en)], "text": known.display_fr}


def to_fhir(item: ContentItem) -> dict[str, Any]:
    data = item.data
    base: dict[str, Any] = {"id": str(item.id), "meta": _meta(item)}
    if isinstance(data, BloodGroup):
        resource = {
            "resourceType": "Observation",
            **base,
            "status": "final",
            "category": [
                {"coding": [_coding("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")]}
            ],
            "code": {"coding": [_coding(codes.LOINC, codes.BLOOD_GROUP_LOINC, "ABO and Rh group [Type] in Blood")]},
            "subject": _patient(item),
            "issued": iso(item.recorded_at),
            "valueCodeableConcept": _code("blood-group", codes.SNOMED, data.code),
        }
        if data.observed_on:
            resource["effectiveDateTime"] = data.observed_on.isoformat()
        return resource
    if isinstance(data, Allergy):
        concept: dict[str, Any] = _code("allergen", codes.SNOMED, data.substance_code) if data.substance_code else {}
        if data.text:
            concept["text"] = data.text
        resource = {
            "resourceType": "AllergyIntolerance",
            **base,
            "clinicalStatus": {
                "coding": [_coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active")]
            },
            "type": data.category,
            "code": concept,
            "patient": _patient(item),
            "recordedDate": iso(item.recorded_at),
        }
        if item.recorded_by_kind == "patient":
            resource["verificationStatus"] = {
                "coding": [
                    _coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "unconfirmed")
                ]
            }
        if data.criticality:
            resource["criticality"] = data.criticality
        if data.onset:
            resource["onsetDateTime"] = data.onset.isoformat()
        if data.reaction:
            resource["reaction"] = [{"description": data.reaction, "manifestation": [{"text": data.reaction}]}]
        return resource
    if isinstance(data, PersonToNotify):
        relationship: list[dict[str, Any]] = [
            {"coding": [_coding("http://terminology.hl7.org/CodeSystem/v2-0131", "C", "Emergency Contact")]}
        ]
        if data.relationship and data.relationship != "C":
            known = next(c for c in codes.codes_for("relationship") if c.code == data.relationship)
            relationship.append(
                {"coding": [_coding(known.system, known.code, known.display_en)], "text": known.display_fr}
            )
        telecom = [{"system": "phone", "value": data.phone}] if data.phone else []
        telecom += [{"system": "email", "value": data.email}] if data.email else []
        return {
            "resourceType": "RelatedPerson",
            **base,
            "active": True,
            "patient": _patient(item),
            "relationship": relationship,
            "name": [{"text": data.name}],
            "telecom": telecom,
        }
    if isinstance(data, Treatment):
        medication: dict[str, Any] = (
            _code("medication", codes.ATC, data.medication_code) if data.medication_code else {}
        )
        if data.text:
            medication["text"] = data.text
        resource = {
            "resourceType": "MedicationStatement",
            **base,
            "status": "active",
            "medicationCodeableConcept": medication,
            "subject": _patient(item),
            "dateAsserted": iso(item.recorded_at),
        }
        if data.since:
            resource["effectivePeriod"] = {"start": data.since.isoformat()}
        if data.dosage:
            resource["dosage"] = [{"text": data.dosage}]
        return resource
    if isinstance(data, Vaccination):
        vaccine = codes.vaccine(data.vaccine_code)
        resource = {
            "resourceType": "Immunization",
            **base,
            "status": "completed",
            "vaccineCode": {
                "coding": [_coding(codes.ATC, vaccine.code, vaccine.display_en)],
                "text": vaccine.display_fr,
            },
            "patient": _patient(item),
            "occurrenceDateTime": data.on.isoformat(),
            "recorded": iso(item.recorded_at),
            "primarySource": data.primary_source,
        }
        if data.report_origin:
            resource["reportOrigin"] = {"coding": [_coding(IMMUNIZATION_ORIGIN, data.report_origin)]}
        if data.lot_number:
            resource["lotNumber"] = data.lot_number
        if data.performer_rpps:
            resource["performer"] = [
                {"actor": {"identifier": {"system": NATIONAL_ID_PS, "value": national_id_of(data.performer_rpps)}}}
            ]
        if data.note:
            resource["note"] = [{"text": data.note}]
        return resource
    raise ValueError(f"no FHIR shape for {item.kind}")


def _div(*paragraphs: str) -> dict[str, str]:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'}


def _section(title: str, loinc: str | None, items: list[ContentItem], lines: list[str], empty: str) -> dict[str, Any]:
    section: dict[str, Any] = {"title": title, "text": _div(*(lines or [empty]))}
    if loinc:
        section["code"] = {"coding": [_coding(codes.LOINC, loinc)]}
    if items:
        section["entry"] = [{"reference": f"{RESOURCE_OF_KIND[i.kind]}/{i.id}"} for i in items]
    else:
        section["emptyReason"] = {
            "coding": [_coding("http://terminology.hl7.org/CodeSystem/list-empty-reason", "unavailable")]
        }
    return section


_CRITICALITY_FR = {"low": "faible", "high": "élevée", "unable-to-assess": "non évaluable"}


def describe_item(item: ContentItem) -> str:
    """One line in French for people (the CLI, the summary's narrative)."""
    data = item.data
    if isinstance(data, BloodGroup):
        return codes.known("blood-group", codes.SNOMED, data.code, field="code").display_fr
    if isinstance(data, Allergy):
        name = (
            codes.known("allergen", codes.SNOMED, data.substance_code, field="code").display_fr
            if data.substance_code
            else ""
        )
        return " — ".join(
            x
            for x in (
                name,
                data.text or "",
                f"criticité {_CRITICALITY_FR[data.criticality]}" if data.criticality else "",
            )
            if x
        )
    if isinstance(data, Treatment):
        name = (
            codes.known("medication", codes.ATC, data.medication_code, field="code").display_fr
            if data.medication_code
            else ""
        )
        return " — ".join(x for x in (name, data.text or "", data.dosage or "") if x)
    if isinstance(data, PersonToNotify):
        return " — ".join(x for x in (data.name, data.phone or "", data.email or "") if x)
    if isinstance(data, Note):
        return f"{data.title} : {data.text}" if data.title else data.text
    return str(item.kind)


def emergency_bundle(summary: EmergencySummary, base: str) -> dict[str, Any]:
    """A `collection` Bundle: a Composition (one section per heading, narrative in French) then
    the resources it points to."""
    blood = [summary.blood_group] if summary.blood_group else []
    directives = summary.advance_directives
    directives_section: dict[str, Any] = {
        "title": "Directives anticipées",
        "code": {"coding": [_coding(codes.LOINC, "42348-3", "Advance directives")]},
    }
    if directives is not None:
        directives_section["text"] = _div(
            f"Le patient a rédigé des directives anticipées (version {directives.version}, "
            f"déposée le {directives.filed_at:%d/%m/%Y})."
        )
        directives_section["entry"] = [{"reference": f"DocumentReference/{directives.document_id}"}]
    else:
        directives_section["text"] = _div("Aucune directive anticipée dans le dossier.")
        directives_section["emptyReason"] = {
            "coding": [_coding("http://terminology.hl7.org/CodeSystem/list-empty-reason", "unavailable")]
        }
    trusted = summary.trusted_person
    trusted_lines = (
        [", ".join(x for x in (trusted.name, trusted.phone, trusted.email) if x)]
        if trusted
        else ["Aucune personne de confiance désignée dans les directives anticipées."]
    )
    composition = {
        "resourceType": "Composition",
        "id": str(uuid.uuid5(summary.record_id, iso(summary.made_at))),
        "status": "final",
        "type": {"coding": [_coding(codes.LOINC, "60591-5", "Patient summary Document")]},
        "subject": {"reference": f"Patient/{summary.record_id}"},
        "date": iso(summary.made_at),
        "author": [{"display": "OpenDMP (expression libre du patient)"}],
        "title": "Résumé d'urgence",
        "section": [
            _section(
                "Groupe sanguin", "882-1", blood, [describe_item(i) for i in blood], "Groupe sanguin non renseigné."
            ),
            _section(
                "Allergies et intolérances",
                "48765-2",
                summary.allergies,
                [describe_item(i) for i in summary.allergies],
                "Aucune allergie renseignée.",
            ),
            _section(
                "Traitements en cours",
                "10160-0",
                summary.treatments,
                [describe_item(i) for i in summary.treatments],
                "Aucun traitement renseigné.",
            ),
            _section(
                "Personnes à prévenir",
                None,
                summary.people_to_notify,
                [describe_item(i) for i in summary.people_to_notify],
                "Aucune personne à prévenir renseignée.",
            ),
            directives_section,
            {"title": "Personne de confiance", "text": _div(*trusted_lines)},
        ],
    }
    entries = [{"fullUrl": f"{base}/fhir/Composition/{composition['id']}", "resource": composition}]
    for item in [*blood, *summary.allergies, *summary.treatments, *summary.people_to_notify]:
        entries.append({"fullUrl": f"{base}/fhir/{RESOURCE_OF_KIND[item.kind]}/{item.id}", "resource": to_fhir(item)})
    return {"resourceType": "Bundle", "type": "collection", "timestamp": iso(summary.made_at), "entry": entries}


_LOINC_DUE, _LOINC_OVERDUE, _LOINC_LATEST = "30980-7", "59778-1", "59777-3"


def recommendation(record_id: uuid.UUID, report: ScheduleReport, made_at: datetime) -> dict[str, Any] | None:
    """What the French schedule asks now, as one ImmunizationRecommendation (None: nothing)."""
    if not report.due:
        return None
    items = []
    for due in report.due:
        vaccines = [v for v in codes.vaccines().values() if due.line.group in v.groups]
        status = (
            _coding(OPENDMP_FORECAST, "upcoming", "Upcoming")
            if due.status is DueStatus.UPCOMING
            else _coding(FORECAST_STATUS, due.status.value, due.status.value.capitalize())
        )
        criteria = [
            {"code": {"coding": [_coding(codes.LOINC, _LOINC_DUE, "Date vaccine due")]}, "value": iso_day(due.due_on)},
            {
                "code": {"coding": [_coding(codes.LOINC, _LOINC_OVERDUE, "Date when overdue for immunization")]},
                "value": iso_day(due.overdue_on),
            },
        ]
        if due.until is not None:
            criteria.append(
                {
                    "code": {"coding": [_coding(codes.LOINC, _LOINC_LATEST, "Latest date to give immunization")]},
                    "value": iso_day(due.until),
                }
            )
        items.append(
            {
                "vaccineCode": [
                    {"coding": [_coding(codes.ATC, v.code, v.display_en)], "text": v.display_fr} for v in vaccines
                ],
                "forecastStatus": {"coding": [status], "text": due.status.value},
                "dateCriterion": criteria,
                "description": due.line.label_fr,
                "series": due.line.group,
                "doseNumberPositiveInt": due.line.dose,
            }
        )
    return {
        "resourceType": "ImmunizationRecommendation",
        "id": str(uuid.uuid5(record_id, f"schedule-{report.on.isoformat()}")),
        "patient": {"reference": f"Patient/{record_id}"},
        "date": iso(made_at),
        "authority": {"display": "Calendrier des vaccinations 2025 (Ministère chargé de la santé)"},
        "recommendation": items,
    }


def iso_day(day: date) -> str:
    """A date as a FHIR dateTime at midnight UTC (dateCriterion.value is a dateTime)."""
    return f"{day.isoformat()}T00:00:00Z"


def capability_resources() -> list[dict[str, Any]]:
    """The content resources' entries of the CapabilityStatement (GET /fhir/metadata)."""
    patient = [
        {"name": "patient", "type": "reference", "documentation": "Patient/<record id> (required)"},
        {"name": "patient.identifier", "type": "token", "documentation": "<INS system>|<NIR>"},
    ]
    interactions = [{"code": c} for c in ("create", "read", "update", "delete", "search-type")]
    entries: list[dict[str, Any]] = [
        {
            "type": resource_type,
            "interaction": interactions,
            "versioning": "versioned-update",
            "searchParam": patient,
            "documentation": "the patient's expression libre or vaccination record: docs/api/contract.md",
        }
        for resource_type in KIND_OF_RESOURCE
    ]
    entries.append(
        {
            "type": "ImmunizationRecommendation",
            "interaction": [{"code": "search-type"}],
            "searchParam": patient,
            "documentation": "computed from the French vaccination schedule (2025) and the recorded doses",
        }
    )
    return entries
