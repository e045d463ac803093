"""FHIR routes for consents (`Consent`: create, read, search by patient, revoke by status) and
emergency access (`POST /fhir/Patient/{id}/$emergency-access`). The rules live in the policy;
these routes translate."""

from __future__ import annotations

import uuid
from typing import Any

import jsonpatch
from litestar import Request, Response, get, patch, post
from litestar.params import FromPath, RawBody

from opendmp.access.policy import EmergencyMode
from opendmp.consent import service as consents
from opendmp.fhir import consent as fhir_consent
from opendmp.fhir.json import decode_resource
from opendmp.fhir.openapi import (
    ConsentBodyOperation,
    ConsentSearchOperation,
    JsonPatchOperation,
    LifecycleOperation,
)
from opendmp.fhir.routes import authenticate, base_url, fhir_response, id_from_path, runtime_of
from opendmp.fhir.search import named_patient, record_of
from opendmp.identity.ins import parse_ins
from opendmp.journal.service import iso
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import InvalidInput
from opendmp.kit.threads import threaded
from opendmp.record import repository as records_repo
from opendmp.record.errors import RecordNotFound

MAX_BODY = 64 * 1024
SEARCH_PARAMETERS = frozenset({"patient", "patient.identifier", "status", "category", "_format"})


def _limited(body: bytes) -> bytes:
    if len(body) > MAX_BODY:
        raise InvalidInput(f"a Consent is at most {MAX_BODY} bytes", field="body")
    return body


def _record_id(session: Any, record_id: uuid.UUID | None, identifier: tuple[str, str] | None) -> uuid.UUID:
    if record_id is None and identifier is not None:
        record_id = records_repo.record_id_by_ins(session, parse_ins(*identifier))
    if record_id is None:
        raise RecordNotFound("no such patient", field="Consent.patient")
    return record_id


def _resource(one: consents.OneConsent, names: dict[str, str], now: Any) -> dict[str, Any]:
    if one.authorisation is not None:
        return fhir_consent.authorisation_to_fhir(one.authorisation, one.holder, now, names)
    if one.block is not None:
        return fhir_consent.block_to_fhir(one.block, one.holder, names)
    return fhir_consent.preferences_to_fhir(one.record_id, one.preferences, one.holder, names, now)


def _rpps_in(one: consents.OneConsent) -> set[str]:
    if one.authorisation is not None:
        return {one.authorisation.rpps}
    if one.block is not None:
        return {one.block.rpps}
    return {one.preferences.medecin_traitant} if one.preferences and one.preferences.medecin_traitant else set()


@post("/fhir/Consent", status_code=201, operation_class=ConsentBodyOperation)
@threaded
def create_consent(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """An authorisation, a block, or the holder's preferences (emergency switches, default
    masking, médecin traitant, default access window)."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    item = fhir_consent.parse_consent(decode_resource(_limited(body), request.headers.get("content-type"), "Consent"))
    with unit_of_work(runtime.sessions) as session:
        now = runtime.clock.now()
        record_id = _record_id(session, item.record_id, item.patient_identifier)
        assert item.rpps is not None or item.kind == "preferences"
        if item.kind == "authorisation":
            assert item.rpps is not None
            consent_id = consents.authorise(
                session,
                actor,
                record_id,
                item.rpps,
                now,
                window_days=item.window_days,
                masked_access=item.masked_access,
                care_team=item.care_team,
                patient_present=item.patient_present,
            ).id
        elif item.kind == "block":
            assert item.rpps is not None
            consent_id = consents.block(session, actor, record_id, item.rpps, now).id
        else:
            if item.medecin_traitant is not None:
                consents.designate_medecin_traitant(session, actor, record_id, item.medecin_traitant or None, now)
            consents.set_preferences(
                session,
                actor,
                record_id,
                now,
                samu=item.samu,
                break_glass=item.break_glass,
                masked_in_emergency=item.masked_in_emergency,
                mask_new_documents=item.mask_new_documents,
                default_window_days=item.default_window_days,
            )
            consent_id = record_id
        session.flush()
        one = consents.get_consent(session, actor, consent_id, now) if actor.kind.value == "patient" else None
        if one is None:
            # A professional's declaration: the answer says what was recorded, nothing more.
            return fhir_response(
                {"resourceType": "Consent", "id": str(consent_id), "status": "active", **_minimal(record_id, item)},
                201,
                {"Location": f"{base_url(request)}/fhir/Consent/{consent_id}"},
            )
        resource = _resource(one, consents.display_names(session, _rpps_in(one)), now)
    return fhir_response(resource, 201, {"Location": f"{base_url(request)}/fhir/Consent/{consent_id}"})


def _minimal(record_id: uuid.UUID, item: fhir_consent.ConsentIn) -> dict[str, Any]:
    assert item.rpps is not None
    return {
        "scope": fhir_consent.SCOPE,
        "category": fhir_consent.category_of(item.kind),
        "patient": {"reference": f"Patient/{record_id}"},
        "policyRule": {"coding": [{"system": fhir_consent.ACT_CODE, "code": "OPTOUT" if item.care_team else "OPTIN"}]},
        "provision": {
            "type": "permit" if item.kind == "authorisation" else "deny",
            "actor": [fhir_consent.professional_actor(item.rpps)],
        },
    }


@get("/fhir/Consent/{consent_id:str}")
@threaded
def read_consent(request: Request[Any, Any, Any], consent_id: FromPath[str]) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    found = id_from_path(consent_id, "Consent")
    with unit_of_work(runtime.sessions) as session:
        now = runtime.clock.now()
        one = consents.get_consent(session, actor, found, now)
        resource = _resource(one, consents.display_names(session, _rpps_in(one)), now)
    return fhir_response(resource)


@patch("/fhir/Consent/{consent_id:str}", operation_class=JsonPatchOperation)
@threaded
def patch_consent(request: Request[Any, Any, Any], consent_id: FromPath[str], body: RawBody) -> Response[bytes]:
    """Revocation by status: `[{"op": "replace", "path": "/status", "value": "inactive"}]`."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    found = id_from_path(consent_id, "Consent")
    try:
        operations = jsonpatch.JsonPatch.from_string(_limited(body).decode("utf-8"))
    except (ValueError, jsonpatch.JsonPatchException) as error:
        raise InvalidInput(f"the body is not a JSON Patch: {error}", field="body") from None
    ops = list(operations)
    if not ops or any(op.get("path") != "/status" or op.get("op") not in ("replace", "test") for op in ops):
        raise InvalidInput("only /status can be patched (replace with inactive)", field="path")
    if [op.get("value") for op in ops if op.get("op") == "replace"] != ["inactive"]:
        raise InvalidInput("a consent is revoked by setting its status to inactive", field="status")
    with unit_of_work(runtime.sessions) as session:
        now = runtime.clock.now()
        one = consents.deactivate(session, actor, found, now)
        resource = _resource(one, consents.display_names(session, _rpps_in(one)), now)
    return fhir_response(resource)


def _search(request: Request[Any, Any, Any], params: dict[str, list[str]]) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    unknown = set(params) - SEARCH_PARAMETERS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"unsupported search parameter {name!r}", field=name)
    single = {k: v[-1] for k, v in params.items() if v}
    patient, identifier = named_patient(single, "Consent", subject=False)
    statuses = set(params.get("status", [])) or {"active", "inactive"}
    if statuses - {"active", "inactive"}:
        raise InvalidInput("status is active or inactive", field="status")
    kinds = {v.rpartition("|")[2] for v in params.get("category", [])} or set(fhir_consent.KINDS)
    if kinds - set(fhir_consent.KINDS):
        raise InvalidInput(f"category is one of {', '.join(fhir_consent.KINDS)}", field="category")
    with unit_of_work(runtime.sessions) as session:
        now = runtime.clock.now()
        record_id = record_of(session, patient, identifier)
        view = consents.consents_of(session, actor, record_id, now)
        _, facts = consents.record_facts(session, record_id, now)
        rpps = {a.rpps for a in view.authorisations} | {b.rpps for b in view.blocks}
        if view.preferences and view.preferences.medecin_traitant:
            rpps.add(view.preferences.medecin_traitant)
        names = consents.display_names(session, rpps)
        resources = []
        if "authorisation" in kinds:
            resources += [fhir_consent.authorisation_to_fhir(a, facts.holder, now, names) for a in view.authorisations]
        if "block" in kinds:
            resources += [fhir_consent.block_to_fhir(b, facts.holder, names) for b in view.blocks]
        if "preferences" in kinds:
            resources.append(fhir_consent.preferences_to_fhir(record_id, view.preferences, facts.holder, names, now))
    base = base_url(request)
    matching = [r for r in resources if r["status"] in statuses]
    return fhir_response(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matching),
            "link": [{"relation": "self", "url": f"{base}/fhir/Consent?patient={record_id}"}],
            "entry": [
                {"fullUrl": f"{base}/fhir/Consent/{r['id']}", "resource": r, "search": {"mode": "match"}}
                for r in matching
            ],
        }
    )


@get("/fhir/Consent", operation_class=ConsentSearchOperation)
@threaded
def search_consents(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The record's authorisations (current and past), blocks and preferences, for the holder."""
    return _search(request, {k: request.query_params.getall(k) for k in request.query_params})


@post("/fhir/Patient/{patient_id:str}/$emergency-access", status_code=200, operation_class=LifecycleOperation)
@threaded
def emergency_access(request: Request[Any, Any, Any], patient_id: FromPath[str], body: RawBody) -> Response[bytes]:
    """Bris de glace (or SAMU regulation, mode=samu): a mandatory reason, a time limit, the
    holder and the médecin traitant told, an operator's review afterwards."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    record_id = id_from_path(patient_id)
    params = decode_resource(_limited(body), request.headers.get("content-type"), "Parameters") if body else {}
    values: dict[str, Any] = {}
    for parameter in params.get("parameter") or []:
        if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
            values[parameter["name"]] = parameter.get("valueString", parameter.get("valueCode"))
    mode_text = values.get("mode") or EmergencyMode.BREAK_GLASS.value
    try:
        mode = EmergencyMode(mode_text)
    except ValueError:
        raise InvalidInput("mode is bris-de-glace or samu", field="mode") from None
    reason = values.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput("reason is a valueString", field="reason")
    with unit_of_work(runtime.sessions) as session:
        entry = consents.break_glass(session, actor, record_id, runtime.clock.now(), reason=reason or "", mode=mode)
        result = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "emergencyAccess", "valueString": str(entry.id)},
                {"name": "mode", "valueCode": entry.mode},
                {"name": "expires", "valueDateTime": iso(entry.expires_at)},
            ],
        }
    return fhir_response(result)


ROUTES = [create_consent, read_consent, patch_consent, search_consents, emergency_access]
