"""Journal entry -> FHIR R4 AuditEvent: the holder's view of who did what in their record
(docs/api/contract.md, "AuditEvent", fixes the profile and the codes)."""

from __future__ import annotations

from typing import Any

from opendmp.fhir.document import PROFESSIONAL_SYSTEM, STRUCTURE_SYSTEM
from opendmp.identity.actor import ActorKind
from opendmp.identity.models import Professional
from opendmp.identity.professions import profession_label
from opendmp.journal.models import JournalEntry
from opendmp.journal.reading import JournalPage
from opendmp.journal.service import iso

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
ACTION_SYSTEM = "https://opendmp.fr/fhir/CodeSystem/journal-action"
PURPOSE_SYSTEM = "https://opendmp.fr/fhir/CodeSystem/journal-purpose"
ACTOR_KIND_SYSTEM = "https://opendmp.fr/fhir/CodeSystem/actor-kind"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PROFESSION_SYSTEM = "urn:oid:1.2.250.1.71.1.2.7"  # TRE_G15
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
NETWORK_IP = "2"

# FHIR's AuditEvent.action from the verb of our action code (resource:verb).
_ACTION_BY_VERB = {
    "open": "C",
    "create": "C",
    "authorise": "C",
    "declare": "C",
    "read": "R",
    "read-content": "R",
    "read-metadata": "R",
    "lookup": "R",
    "search": "E",
    "by-actor": "E",
    "login": "E",
    "emergency": "E",
    "delete": "D",
    "purge": "D",
}
# Outcome codes of R4: 0 success, 4 minor failure (here: refused), 8 serious failure.
_OUTCOME = {"success": "0", "denied": "4", "failure": "8"}
# Purposes we know in HL7's ActReason vocabulary, beside our own code.
_ACT_REASON = {
    "care": ("TREAT", "treatment"),
    "emergency": ("ETREAT", "Emergency Treatment"),
    "patient-access": ("PATRQT", "patient requested"),
    "forensics": ("HSYSADMIN", "health system administration"),
}
# What the holder reads for actors who are not a named professional (French first).
_KIND_DISPLAY = {
    ActorKind.COUNTER_AGENT.value: "Agent d'accueil de l'Assurance Maladie",
    ActorKind.OPERATOR.value: "Opérateur de la plateforme OpenDMP",
    ActorKind.INSURER_FEED.value: "Assurance Maladie (alimentation automatique)",
    ActorKind.SYSTEM.value: "OpenDMP (traitement automatique)",
}


def action_code(action: str) -> str:
    verb = action.partition(":")[2]
    return _ACTION_BY_VERB.get(verb, "U")


def professional_display(professional: Professional) -> str:
    """ "Prénom NOM (Profession)", as the holder's journal names a professional."""
    label = profession_label(professional.profession) or professional.profession
    return f"{professional.given} {professional.family.upper()} ({label})"


def _who(entry: JournalEntry, page: JournalPage) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """agent.who and agent.role of the entry's actor."""
    kind, actor_id = entry.actor_kind or "", entry.actor_id or ""
    roles: list[dict[str, Any]] = [{"coding": [{"system": ACTOR_KIND_SYSTEM, "code": kind}]}]
    if kind == ActorKind.PROFESSIONAL.value:
        who: dict[str, Any] = {"identifier": {"system": PROFESSIONAL_SYSTEM, "value": "8" + actor_id}}
        professional = page.professionals.get(actor_id)
        if professional is not None:
            who["display"] = professional_display(professional)
            label = profession_label(professional.profession)
            coding = {"system": PROFESSION_SYSTEM, "code": professional.profession}
            roles.append({"coding": [{**coding, "display": label} if label else coding]})
        else:
            who["display"] = f"Professionnel de santé RPPS {actor_id}"
        return who, roles
    if kind == ActorKind.PATIENT.value:
        # A person acts on a record as its holder or as a legal representative; their NIR is
        # not repeated (the holder knows who they are).
        if actor_id == page.holder.value:
            return {"display": "Vous (titulaire du dossier)"}, roles
        if any(actor_id == r.value for r in page.representatives):
            return {"display": "Votre représentant légal"}, roles
        return {"display": "Un représentant légal (ancien)"}, roles
    if kind == ActorKind.SOFTWARE.value:
        return {"display": f"Logiciel {actor_id}"}, roles
    return {"display": _KIND_DISPLAY.get(kind, kind or "inconnu")}, roles


def _entity(entry: JournalEntry) -> dict[str, Any] | None:
    target_type, target_id = entry.target_type, entry.target_id
    what: dict[str, Any]
    if target_type == "record" and target_id:
        what = {"reference": f"Patient/{target_id}"}
    elif target_type == "document" and target_id:
        what = {"reference": f"DocumentReference/{target_id}"}
    elif target_type == "professional" and target_id:
        what = {"identifier": {"system": PROFESSIONAL_SYSTEM, "value": "8" + target_id}}
    elif target_type == "organisation" and target_id:
        what = {"identifier": {"system": STRUCTURE_SYSTEM, "value": "1" + target_id}}
    elif target_type:
        what = {"display": f"{target_type} {target_id}" if target_id else target_type}
    else:
        return None
    entity: dict[str, Any] = {"what": what}
    if entry.reason:
        entity["detail"] = [{"type": "reason", "valueString": entry.reason}]
    return entity


def to_fhir(entry: JournalEntry, page: JournalPage) -> dict[str, Any]:
    action = entry.action or ""
    who, roles = _who(entry, page)
    agent: dict[str, Any] = {"who": who, "role": roles, "requestor": True}
    if entry.actor_organisation:
        agent["location"] = {"display": f"FINESS {entry.actor_organisation}"}
    if entry.source_address:
        agent["network"] = {"address": entry.source_address, "type": NETWORK_IP}
    if entry.purpose:
        coding = [{"system": PURPOSE_SYSTEM, "code": entry.purpose}]
        if entry.purpose in _ACT_REASON:
            code, display = _ACT_REASON[entry.purpose]
            coding.insert(0, {"system": ACT_REASON, "code": code, "display": display})
        agent["purposeOfUse"] = [{"coding": coding}]
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(entry.id),
        "type": {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": ACTION_SYSTEM, "code": action}],
        "action": action_code(action),
        "recorded": iso(entry.at),
        "outcome": _OUTCOME.get(entry.outcome or "", "8"),
        "agent": [agent],
        "source": {
            "observer": {"display": "OpenDMP"},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
    }
    if entry.outcome and entry.outcome != "success":
        resource["outcomeDesc"] = "refusé" if entry.outcome == "denied" else "échec"
    if entry.purpose:
        resource["purposeOfEvent"] = agent["purposeOfUse"]
    entity = _entity(entry)
    if entity is not None:
        resource["entity"] = [entity]
    return resource
