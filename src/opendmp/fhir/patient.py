"""Patient <-> FHIR JSON, shaped like FR Core's fr-core-patient-ins profile, and the parsing of
the $open Parameters and of the Patient search parameters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from opendmp.identity.ins import (
    Gender,
    Ins,
    InsSystem,
    StrictTraits,
    parse_ins,
    validate_birthplace,
)
from opendmp.journal.service import iso
from opendmp.kit.errors import InvalidInput
from opendmp.notify.models import ChannelKind
from opendmp.record.models import Channel
from opendmp.record.service import OpeningRequest, PatientRecord, RepresentativeIn

FR_CORE_PATIENT_INS = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"
BIRTHPLACE_URL = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
INSEE_CODE_URL = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
INSEE_COMMUNE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
IDENTIFIER_TYPE_SYSTEM = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
RECORD_EXTENSION = "https://opendmp.fr/fhir/StructureDefinition/dmp-record"
REPRESENTATIVE_ROLE = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
    "code": "GUARD",
    "display": "guardian",
}
_TYPE_CODE = {
    InsSystem.NIR: "INS-NIR",
    InsSystem.NIA: "INS-NIA",
    InsSystem.TEST_NIR: "INS-NIR-TEST",
    InsSystem.DEMO_NIR: "INS-NIR-DEMO",
}


def to_fhir(view: PatientRecord) -> dict[str, Any]:
    record, patient = view.record, view.patient
    system = InsSystem(patient.ins_system)
    status_ext: list[dict[str, Any]] = [
        {"url": "status", "valueCode": record.status},
        {"url": "channel", "valueCode": record.channel},
        {"url": "opened", "valueDateTime": iso(record.opened_at)},
    ]
    for name, value in (
        ("objectionDeadline", record.objection_deadline),
        ("purgeAfter", record.purge_after),
        ("deletionDue", record.deletion_due),
    ):
        if value is not None:
            status_ext.append({"url": name, "valueDateTime": iso(value)})
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(record.id),
        "meta": {
            "versionId": str(record.version),
            "lastUpdated": iso(record.updated_at),
            "profile": [FR_CORE_PATIENT_INS],
        },
        "extension": [
            {"url": RECORD_EXTENSION, "extension": status_ext},
            {
                "url": BIRTHPLACE_URL,
                "valueAddress": {
                    "extension": [
                        {
                            "url": INSEE_CODE_URL,
                            "valueCoding": {"system": INSEE_COMMUNE_SYSTEM, "code": patient.birthplace_code},
                        }
                    ]
                },
            },
        ],
        "identifier": [
            {
                "use": "official",
                "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": _TYPE_CODE[system]}]},
                "system": system.uri,
                "value": patient.ins_value,
            }
        ],
        "active": record.status in ("active", "pending-objection"),
        "name": [{"use": "official", "family": patient.birth_family, "given": patient.given_names.split(" ")}],
        "gender": patient.gender,
        "birthDate": patient.birth_date.isoformat(),
    }
    if record.deceased_on is not None:
        resource["deceasedDateTime"] = record.deceased_on.isoformat()
    if patient.residence_department:
        resource["address"] = [{"use": "home", "district": patient.residence_department, "country": "FR"}]
    if view.representatives:
        resource["contact"] = [
            {
                "relationship": [{"coding": [REPRESENTATIVE_ROLE]}],
                "name": {"family": r.family, "given": r.given.split(" ")},
            }
            for r in view.representatives
        ]
    return resource


def _require(container: dict[str, Any], key: str, field: str) -> Any:
    value = container.get(key)
    if value in (None, "", []):
        raise InvalidInput(f"{field} is required", field=field)
    return value


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    return value


def parse_date(value: Any, field: str) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise InvalidInput(f"{field} must be a full date YYYY-MM-DD", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidInput(f"{field} is not a valid date", field=field) from error


def parse_datetime(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a dateTime", field=field)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise InvalidInput(f"{field} is not a valid dateTime", field=field) from error
    if parsed.tzinfo is None:
        if len(value) == 10:  # a plain date: midnight UTC
            from datetime import UTC

            return parsed.replace(tzinfo=UTC)
        raise InvalidInput(f"{field} needs a time zone", field=field)
    return parsed


def parse_gender(value: Any, field: str = "gender") -> Gender:
    try:
        return Gender(value)
    except ValueError as error:
        raise InvalidInput("gender must be male or female (the INS sex trait)", field=field) from error


def _birthplace(patient: dict[str, Any]) -> str:
    for ext in patient.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == BIRTHPLACE_URL:
            address = ext.get("valueAddress") or {}
            for inner in address.get("extension") or [] if isinstance(address, dict) else []:
                if isinstance(inner, dict) and inner.get("url") == INSEE_CODE_URL:
                    value = (
                        inner.get("valueCoding", {}).get("code")
                        if isinstance(inner.get("valueCoding"), dict)
                        else inner.get("valueCode") or inner.get("valueString")
                    )
                    return validate_birthplace(_str(value, "Patient.birthPlace"), field="Patient.birthPlace")
    raise InvalidInput(
        "the INSEE birthplace code is required (patient-birthPlace extension)", field="Patient.birthPlace"
    )


def _ins(patient: dict[str, Any]) -> Ins:
    identifiers = patient.get("identifier")
    if not isinstance(identifiers, list) or not identifiers:
        raise InvalidInput("the INS identifier is required", field="Patient.identifier")
    errors: list[InvalidInput] = []
    for identifier in identifiers:
        if (
            isinstance(identifier, dict)
            and isinstance(identifier.get("system"), str)
            and identifier["system"].startswith("urn:oid:1.2.250.1.213.1.4.")
        ):
            try:
                return parse_ins(identifier["system"], _str(identifier.get("value"), "Patient.identifier.value"))
            except InvalidInput as error:
                errors.append(error)
    if errors:
        raise InvalidInput(errors[0].message, field="Patient.identifier")
    raise InvalidInput(
        "no INS identifier (NIR, NIA, test or demo OID) in Patient.identifier", field="Patient.identifier.system"
    )


def parse_traits(patient: dict[str, Any]) -> StrictTraits:
    names = patient.get("name")
    if not isinstance(names, list) or not names:
        raise InvalidInput("the birth name is required", field="Patient.name")
    official = next((n for n in names if isinstance(n, dict) and n.get("use") == "official"), names[0])
    if not isinstance(official, dict):
        raise InvalidInput("Patient.name must hold HumanName objects", field="Patient.name")
    family = _str(_require(official, "family", "Patient.name.family"), "Patient.name.family")
    given = _require(official, "given", "Patient.name.given")
    if not isinstance(given, list) or not all(isinstance(g, str) and g.strip() for g in given):
        raise InvalidInput("the birth given names are required", field="Patient.name.given")
    return StrictTraits(
        birth_family=family,
        given_names=" ".join(given),
        birth_date=parse_date(_require(patient, "birthDate", "Patient.birthDate"), "Patient.birthDate"),
        gender=parse_gender(_require(patient, "gender", "Patient.gender"), "Patient.gender"),
        birthplace_code=_birthplace(patient),
    )


def _parameters(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    params = body.get("parameter") or []
    if not isinstance(params, list) or not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in params):
        raise InvalidInput("Parameters.parameter must be a list of named parameters", field="Parameters.parameter")
    return {p["name"]: p for p in params}


_OPEN_PARAMETERS = {
    "patient",
    "channel",
    "consentDate",
    "consentMethod",
    "residenceDepartment",
    "representative",
    "contact",
}
# ContactPoint.system → the channel that reaches it (a phone receives SMS: mobiles only).
_CONTACT_SYSTEMS = {"email": ChannelKind.EMAIL, "sms": ChannelKind.SMS, "phone": ChannelKind.SMS}


def _contact(param: dict[str, Any]) -> tuple[ChannelKind, str]:
    point = param.get("valueContactPoint")
    if not isinstance(point, dict) or point.get("system") not in _CONTACT_SYSTEMS:
        raise InvalidInput("a contact is a valueContactPoint with system email, sms or phone", field="contact")
    return _CONTACT_SYSTEMS[point["system"]], _str(point.get("value"), "contact.value")


def parse_open(body: dict[str, Any]) -> OpeningRequest:
    params = body.get("parameter") or []
    named = _parameters(body)
    unknown = set(named) - _OPEN_PARAMETERS
    if unknown:
        raise InvalidInput(f"unknown parameter {sorted(unknown)[0]!r}", field="Parameters.parameter")
    patient = named.get("patient", {}).get("resource")
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise InvalidInput("the patient parameter must hold a Patient resource", field="patient")
    channel = None
    if "channel" in named:
        try:
            channel = Channel(str(named["channel"].get("valueCode")))
        except ValueError as error:
            raise InvalidInput(
                f"channel must be one of {', '.join(c.value for c in Channel)}", field="channel"
            ) from error
    consent_at = None
    if "consentDate" in named:
        consent_at = parse_datetime(named["consentDate"].get("valueDateTime"), "consentDate")
    method = named.get("consentMethod", {}).get("valueCode") if "consentMethod" in named else None
    department = named.get("residenceDepartment", {}).get("valueString") if "residenceDepartment" in named else None
    representatives = []
    for param in params:
        if param["name"] != "representative":
            continue
        person = param.get("resource")
        if not isinstance(person, dict) or person.get("resourceType") != "RelatedPerson":
            raise InvalidInput("a representative is a RelatedPerson with an INS and a name", field="representative")
        ins = _ins(person)
        names = person.get("name") or [{}]
        first = names[0] if isinstance(names, list) and names and isinstance(names[0], dict) else {}
        given = first.get("given") or []
        representatives.append(
            RepresentativeIn(
                ins,
                _str(first.get("family"), "representative.name.family"),
                " ".join(given) if isinstance(given, list) else _str(given, "given"),
            )
        )
    contacts = tuple(_contact(param) for param in params if param["name"] == "contact")
    return OpeningRequest(
        ins=_ins(patient),
        traits=parse_traits(patient),
        channel=channel,
        consent_at=consent_at,
        consent_method=method if isinstance(method, str) else None,
        residence_department=department if isinstance(department, str) else None,
        representatives=tuple(representatives),
        contacts=contacts,
    )


def parse_reason(body: dict[str, Any] | None) -> str | None:
    if not body:
        return None
    reason = _parameters(body).get("reason", {}).get("valueString")
    return reason if isinstance(reason, str) else None


TRAIT_PARAMETERS = ("family", "given", "birthdate", "gender", "birthplace")
SEARCH_PARAMETERS = frozenset({"identifier", *TRAIT_PARAMETERS, "_count", "_format"})


def parse_search(params: dict[str, list[str]]) -> Ins | StrictTraits:
    """Patients are found only by INS or by all five strict traits: no listing by name."""
    unknown = set(params) - SEARCH_PARAMETERS
    if unknown:
        raise InvalidInput(f"unsupported search parameter {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    for name, values in params.items():
        if len(values) != 1:
            raise InvalidInput(f"{name} may be given once", field=name)
    single = {name: values[0] for name, values in params.items()}
    traits_given = [name for name in TRAIT_PARAMETERS if name in single]
    if "identifier" in single:
        if traits_given:
            raise InvalidInput("search by INS or by the five traits, not both", field=traits_given[0])
        system, sep, value = single["identifier"].partition("|")
        if not sep or not system or not value:
            raise InvalidInput("identifier must be <system>|<INS>", field="identifier")
        return parse_ins(system, value)
    if len(traits_given) != len(TRAIT_PARAMETERS):
        missing = [name for name in TRAIT_PARAMETERS if name not in single]
        raise InvalidInput(
            f"search by identifier=<system>|<INS>, or by all five strict traits (missing: {', '.join(missing)})",
            field=missing[0],
        )
    return StrictTraits(
        birth_family=single["family"],
        given_names=single["given"],
        birth_date=parse_date(single["birthdate"], "birthdate"),
        gender=parse_gender(single["gender"]),
        birthplace_code=validate_birthplace(single["birthplace"], field="birthplace"),
    )
