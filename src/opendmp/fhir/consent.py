"""The holder's consents as FHIR R4 `Consent` resources (profile in docs/api/contract.md).

Three kinds, told apart by a category coded in CONSENT_KIND_SYSTEM:
- `authorisation`: a professional's access (provision permit, actor = the professional by
  idNat_PS, period = the access window; policyRule OPTOUT for the care team's "informed and did
  not object", OPTIN for express consent; `verification` when a professional declared it with the
  patient present; MASQUE_PS in provision.securityLabel when the holder granted masked documents);
- `block`: a professional blocked by RPPS (provision deny, same actor);
- `preferences`: one per record, id = the record's id: the emergency switches, default masking,
  the médecin traitant and the default access window, as nested provisions.
An authorisation is revoked, a block lifted, by setting status to `inactive`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opendmp.consent.models import Authorisation, ConsentPreferences, ProfessionalBlock
from opendmp.fhir.document import MASQUE_PS, PROFESSIONAL_SYSTEM, VISIBILITY_SYSTEM
from opendmp.identity.ins import Ins
from opendmp.identity.service import national_id_of, rpps_from_national_id
from opendmp.journal.service import iso
from opendmp.kit.errors import InvalidInput
from opendmp.kit.ids import parse_id

CONSENT_KIND_SYSTEM = "https://opendmp.fr/fhir/CodeSystem/consent-kind"
CONSENT_PROVISION_SYSTEM = "https://opendmp.fr/fhir/CodeSystem/consent-provision"
WINDOW_EXTENSION = "https://opendmp.fr/fhir/StructureDefinition/access-window-days"
DEFAULT_WINDOW_EXTENSION = "https://opendmp.fr/fhir/StructureDefinition/default-access-window-days"
SCOPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]}
LOINC_CONSENT = {"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
RECIPIENT = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]}
EMERGENCY_PURPOSE = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"}
MASKED_LABEL = {"system": VISIBILITY_SYSTEM, "code": MASQUE_PS}
KINDS = ("authorisation", "block", "preferences")
# Provision codes of the preferences Consent.
SAMU, BREAK_GLASS, EMERGENCY_MASKED, MASK_NEW, MEDECIN_TRAITANT = (
    "samu",
    "bris-de-glace",
    "emergency-masked-documents",
    "mask-new-documents",
    "medecin-traitant",
)


def category_of(kind: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": CONSENT_KIND_SYSTEM, "code": kind}]}, {"coding": [LOINC_CONSENT]}]


def professional_actor(rpps: str, display: str | None = None) -> dict[str, Any]:
    reference: dict[str, Any] = {"identifier": {"system": PROFESSIONAL_SYSTEM, "value": national_id_of(rpps)}}
    if display:
        reference["display"] = display
    return {"role": RECIPIENT, "reference": reference}


def _performer(declared_by: str | None, holder: Ins) -> list[dict[str, Any]]:
    if declared_by and declared_by.isdigit() and len(declared_by) == 11:
        return [{"identifier": {"system": PROFESSIONAL_SYSTEM, "value": national_id_of(declared_by)}}]
    return [{"identifier": {"system": holder.system.uri, "value": declared_by or holder.value}}]


def authorisation_to_fhir(grant: Authorisation, holder: Ins, now: datetime, names: dict[str, str]) -> dict[str, Any]:
    active = grant.revoked_at is None and (grant.expires_at is None or now < grant.expires_at)
    period: dict[str, str] = {"start": iso(grant.granted_at)}
    if grant.expires_at is not None:
        period["end"] = iso(grant.expires_at)
    provision: dict[str, Any] = {
        "type": "permit",
        "period": period,
        "actor": [professional_actor(grant.rpps, names.get(grant.rpps))],
    }
    if grant.masked_access:
        provision["securityLabel"] = [MASKED_LABEL]
    care_team = grant.kind == "care-team"
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": str(grant.id),
        "meta": {"lastUpdated": iso(grant.revoked_at or grant.granted_at)},
        "status": "active" if active else "inactive",
        "scope": SCOPE,
        "category": category_of("authorisation"),
        "patient": {"reference": f"Patient/{grant.record_id}"},
        "dateTime": iso(grant.granted_at),
        "performer": _performer(grant.declared_by, holder),
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTOUT" if care_team else "OPTIN"}]},
        "provision": provision,
    }
    if grant.granted_via in ("declaration", "opening"):
        # A professional declared it with the patient present.
        resource["verification"] = [
            {
                "verified": True,
                "verifiedWith": {"reference": f"Patient/{grant.record_id}"},
                "verificationDate": iso(grant.granted_at),
            }
        ]
    return resource


def block_to_fhir(block: ProfessionalBlock, holder: Ins, names: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": str(block.id),
        "meta": {"lastUpdated": iso(block.unblocked_at or block.blocked_at)},
        "status": "active" if block.unblocked_at is None else "inactive",
        "scope": SCOPE,
        "category": category_of("block"),
        "patient": {"reference": f"Patient/{block.record_id}"},
        "dateTime": iso(block.blocked_at),
        "performer": _performer(block.blocked_by, holder),
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTOUT"}]},
        "provision": {"type": "deny", "actor": [professional_actor(block.rpps, names.get(block.rpps))]},
    }


def _switch(code: str, permitted: bool, **extra: Any) -> dict[str, Any]:
    return {
        "type": "permit" if permitted else "deny",
        "code": [{"coding": [{"system": CONSENT_PROVISION_SYSTEM, "code": code}]}],
        **extra,
    }


def preferences_to_fhir(
    record_id: uuid.UUID, prefs: ConsentPreferences | None, holder: Ins, names: dict[str, str], now: datetime
) -> dict[str, Any]:
    samu = prefs.samu_allowed if prefs else True
    glass = prefs.break_glass_allowed if prefs else True
    masked = prefs.masked_in_emergency if prefs else True
    mask_new = prefs.mask_new_documents if prefs else False
    provisions = [
        _switch(SAMU, samu, purpose=[EMERGENCY_PURPOSE]),
        _switch(BREAK_GLASS, glass, purpose=[EMERGENCY_PURPOSE]),
        _switch(EMERGENCY_MASKED, masked, purpose=[EMERGENCY_PURPOSE], securityLabel=[MASKED_LABEL]),
        # "deny" here means: new documents are masked from professionals by default.
        _switch(MASK_NEW, not mask_new, securityLabel=[MASKED_LABEL]),
    ]
    if prefs is not None and prefs.medecin_traitant:
        provisions.append(
            _switch(
                MEDECIN_TRAITANT,
                True,
                actor=[professional_actor(prefs.medecin_traitant, names.get(prefs.medecin_traitant))],
            )
        )
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": str(record_id),
        "meta": {"lastUpdated": iso(prefs.updated_at if prefs else now)},
        "status": "active",
        "scope": SCOPE,
        "category": category_of("preferences"),
        "patient": {"reference": f"Patient/{record_id}"},
        "dateTime": iso(prefs.updated_at if prefs else now),
        "performer": _performer(prefs.updated_by if prefs else None, holder),
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
        "provision": {"type": "permit", "provision": provisions},
    }
    if prefs is not None and prefs.default_window_days is not None:
        resource["extension"] = [{"url": DEFAULT_WINDOW_EXTENSION, "valueInteger": prefs.default_window_days}]
    return resource


# --- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentIn:
    kind: str
    record_id: uuid.UUID | None
    patient_identifier: tuple[str, str] | None  # (system, value)
    rpps: str | None = None
    window_days: int | None = None
    masked_access: bool = False
    care_team: bool = False
    patient_present: bool = False
    samu: bool | None = None
    break_glass: bool | None = None
    masked_in_emergency: bool | None = None
    mask_new_documents: bool | None = None
    medecin_traitant: str | None = None
    default_window_days: int | None = None


def _codes(concepts: Any, field: str) -> list[tuple[str | None, str | None]]:
    if concepts is None:
        return []
    if not isinstance(concepts, list):
        raise InvalidInput(f"{field} is a list", field=field)
    found = []
    for concept in concepts:
        codings = concept.get("coding") if isinstance(concept, dict) else None
        if not isinstance(codings, list):
            raise InvalidInput(f"{field} holds CodeableConcepts", field=field)
        found += [(c.get("system"), c.get("code")) for c in codings if isinstance(c, dict)]
    return found


def _rpps_of_actor(provision: dict[str, Any], field: str) -> str:
    actors = provision.get("actor")
    if not isinstance(actors, list) or len(actors) != 1 or not isinstance(actors[0], dict):
        raise InvalidInput("name exactly one professional in provision.actor", field=field)
    reference = actors[0].get("reference")
    identifier = reference.get("identifier") if isinstance(reference, dict) else None
    value = identifier.get("value") if isinstance(identifier, dict) else None
    if not isinstance(value, str) or not value.isdigit():
        raise InvalidInput("the professional is identified by idNat_PS (8 + RPPS)", field=f"{field}.reference")
    return rpps_from_national_id(value) if len(value) == 12 else value


def _int_extension(resource: dict[str, Any], url: str, field: str) -> int | None:
    for extension in resource.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == url:
            value = extension.get("valueInteger")
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidInput("valueInteger is a whole number of days", field=field)
            return value
    return None


def parse_consent(resource: dict[str, Any]) -> ConsentIn:
    if resource.get("status") not in ("active", "proposed"):
        raise InvalidInput("a new Consent is active", field="Consent.status")
    kinds = [
        code for system, code in _codes(resource.get("category"), "Consent.category") if system == CONSENT_KIND_SYSTEM
    ]
    if len(kinds) != 1 or kinds[0] not in KINDS:
        raise InvalidInput(
            f"Consent.category names one kind of {CONSENT_KIND_SYSTEM}: {', '.join(KINDS)}", field="Consent.category"
        )
    kind = kinds[0]
    patient = resource.get("patient")
    if not isinstance(patient, dict):
        raise InvalidInput("the patient is required", field="Consent.patient")
    record_id, identifier = None, None
    if isinstance(patient.get("reference"), str):
        record_id = parse_id(patient["reference"].removeprefix("Patient/"))
        if record_id is None:
            raise InvalidInput("Consent.patient is Patient/<id>", field="Consent.patient")
    elif isinstance(patient.get("identifier"), dict):
        system, value = patient["identifier"].get("system"), patient["identifier"].get("value")
        if not isinstance(system, str) or not isinstance(value, str):
            raise InvalidInput("Consent.patient.identifier is the INS (system and value)", field="Consent.patient")
        identifier = (system, value)
    else:
        raise InvalidInput("Consent.patient is a reference or the INS", field="Consent.patient")
    provision = resource.get("provision")
    if not isinstance(provision, dict):
        raise InvalidInput("provision is required", field="Consent.provision")
    if kind == "preferences":
        return _parse_preferences(resource, provision, record_id, identifier)
    expected = "permit" if kind == "authorisation" else "deny"
    if provision.get("type") != expected:
        raise InvalidInput(f"an {kind} is provision.type {expected}", field="Consent.provision.type")
    rpps = _rpps_of_actor(provision, "Consent.provision.actor")
    if kind == "block":
        return ConsentIn("block", record_id, identifier, rpps=rpps)
    rules = [
        code
        for system, code in _codes(
            [resource.get("policyRule")] if resource.get("policyRule") else [], "Consent.policyRule"
        )
        if system == ACT_CODE
    ]
    labels = provision.get("securityLabel") or []
    masked = any(isinstance(label, dict) and label.get("code") == MASQUE_PS for label in labels)
    verification = resource.get("verification") or []
    present = any(isinstance(v, dict) and v.get("verified") is True for v in verification)
    return ConsentIn(
        "authorisation",
        record_id,
        identifier,
        rpps=rpps,
        window_days=_int_extension(resource, WINDOW_EXTENSION, "Consent.extension"),
        masked_access=masked,
        care_team="OPTOUT" in rules,
        patient_present=present,
    )


def _parse_preferences(
    resource: dict[str, Any], provision: dict[str, Any], record_id: uuid.UUID | None, identifier: tuple[str, str] | None
) -> ConsentIn:
    values: dict[str, Any] = {}
    nested = provision.get("provision") or []
    if not isinstance(nested, list):
        raise InvalidInput("provision.provision is a list", field="Consent.provision.provision")
    names = {
        SAMU: "samu",
        BREAK_GLASS: "break_glass",
        EMERGENCY_MASKED: "masked_in_emergency",
        MASK_NEW: "mask_new_documents",
    }
    for n, item in enumerate(nested):
        field = f"Consent.provision.provision[{n}]"
        if not isinstance(item, dict) or item.get("type") not in ("permit", "deny"):
            raise InvalidInput("each provision is permit or deny", field=field)
        codes = [code for system, code in _codes(item.get("code"), field) if system == CONSENT_PROVISION_SYSTEM]
        if len(codes) != 1:
            raise InvalidInput(f"each provision names one code of {CONSENT_PROVISION_SYSTEM}", field=field)
        code, permitted = codes[0], item["type"] == "permit"
        if code == MEDECIN_TRAITANT:
            values["medecin_traitant"] = _rpps_of_actor(item, f"{field}.actor") if permitted else ""
        elif code in names:
            # mask-new-documents: "deny" means masked by default.
            values[names[code]] = (not permitted) if code == MASK_NEW else permitted
        else:
            raise InvalidInput(f"unknown provision code {code!r}", field=field)
    values["default_window_days"] = _int_extension(resource, DEFAULT_WINDOW_EXTENSION, "Consent.extension")
    return ConsentIn("preferences", record_id, identifier, **values)
