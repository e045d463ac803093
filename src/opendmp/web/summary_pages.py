"""The VSM (volet de synthèse médicale, by the médecin traitant) and the DLU (dossier de liaison
d'urgence, by an EHPAD's professionals) as forms of the professional's space, on the summary
service (summary/service.py), which validates every field at once and asks the policy who may
write. A fixed number of rows per list keeps the forms usable without JavaScript; the service's
problems are shown next to their fields, in French, and nothing typed is lost."""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy.orm import Session

from opendmp.identity.actor import Actor
from opendmp.kit.errors import DomainError
from opendmp.kit.threads import threaded
from opendmp.record.standing import standing_of
from opendmp.summary import service as summaries
from opendmp.summary.forms import (
    RISK_FACTORS,
    Allergy,
    Antecedent,
    AntecedentKind,
    Contact,
    DluIn,
    FormInvalid,
    Treatment,
    VsmIn,
)
from opendmp.web.patient_pages import MAX_FORM_BYTES, Form, Page, _run, _text
from opendmp.web.pro_pages import _staff_nav
from opendmp.web.pro_space import _not_found, _posted_on_record, _professional, _record_id

ROWS = 3  # rows per list (antecedents, treatments, allergies) on the form
KINDS = {"vsm": "Volet de synthèse médicale (VSM)", "dlu": "Dossier de liaison d'urgence (DLU)"}
ANTECEDENT_KINDS = [
    (AntecedentKind.MEDICAL.value, "Médical"),
    (AntecedentKind.SURGICAL.value, "Chirurgical"),
    (AntecedentKind.FAMILY.value, "Familial"),
]
# The service names each problem in English by its field path: the page says it in French.
MESSAGES = [
    ("is required", "Ce champ est obligatoire."),
    ("not a CIM-10 code", "Ce n'est pas un code CIM-10 (par exemple E11 ou I10)."),
    ("neither an ATC code", "Ni un code ATC, ni un code CIP13/UCD13."),
    ("in the future", "Cette date est dans le futur."),
    ("list the allergies", "Indiquez les allergies, ou cochez « aucune allergie connue »."),
    ("allergies are listed", "Des allergies sont indiquées : décochez « aucune allergie connue »."),
    ("at least one antecedent", "Un VSM indique au moins un antécédent ou un traitement habituel."),
    ("phone number", "Indiquez un numéro de téléphone (10 chiffres)."),
    ("AGGIR", "Le GIR est compris entre 1 et 6."),
    ("no advance directives", "Un lieu est indiqué, mais aucune directive anticipée n'est déclarée."),
    ("at most", "Ce texte est trop long."),
    ("unknown kind", "Type d'antécédent inconnu."),
]


def _field_id(path: str) -> str:
    """antecedents[1].label → antecedents-1-label (the id of its input on the form)."""
    return re.sub(r"[\[\].]+", "-", path).strip("-")


def _french(page: Page, message: str) -> str:
    for fragment, text in MESSAGES:
        if fragment in message:
            return page._(text)
    return page._("Valeur non valable.")


def _optional(form: dict[str, Any], name: str) -> str | None:
    return _text(form, name) or None


def _antecedent_kind(form: dict[str, Any], n: int) -> AntecedentKind:
    """The posted kind, or the form's error on that field (a forged or stale value is bad input,
    not a server error)."""
    value = _text(form, f"antecedents-{n}-kind") or AntecedentKind.MEDICAL.value
    try:
        return AntecedentKind(value)
    except ValueError:
        known = ", ".join(k.value for k in AntecedentKind)
        raise FormInvalid([(f"antecedents[{n}].kind", f"unknown kind: expected one of {known}")]) from None


def _medical(form: dict[str, Any]) -> dict[str, Any]:
    antecedents = tuple(
        Antecedent(
            _antecedent_kind(form, n),
            _text(form, f"antecedents-{n}-label"),
            _optional(form, f"antecedents-{n}-code"),
        )
        for n in range(ROWS)
        if _text(form, f"antecedents-{n}-label") or _text(form, f"antecedents-{n}-code")
    )
    treatments = tuple(
        Treatment(
            _text(form, f"treatments-{n}-label"),
            _optional(form, f"treatments-{n}-dosage"),
            _optional(form, f"treatments-{n}-code"),
        )
        for n in range(ROWS)
        if _text(form, f"treatments-{n}-label") or _text(form, f"treatments-{n}-code")
    )
    allergies = tuple(
        Allergy(_text(form, f"allergies-{n}-substance"), _optional(form, f"allergies-{n}-reaction"))
        for n in range(ROWS)
        if _text(form, f"allergies-{n}-substance") or _text(form, f"allergies-{n}-reaction")
    )
    return {
        "antecedents": antecedents,
        "treatments": treatments,
        "allergies": allergies,
        "no_known_allergies": bool(form.get("no_known_allergies")),
        "comments": _optional(form, "comments"),
    }


def _vsm_of(form: dict[str, Any]) -> VsmIn:
    risks = form.get("risk_factors") or []
    chosen = [risks] if isinstance(risks, str) else [r for r in risks if isinstance(r, str)]
    return VsmIn(
        **_medical(form),
        risk_factors=tuple(r for r in RISK_FACTORS if r in chosen),
        vaccination_notes=_optional(form, "vaccination_notes"),
        care_plan=_optional(form, "care_plan"),
    )


def _dlu_of(form: dict[str, Any]) -> DluIn:
    trusted = None
    if _text(form, "trusted_person-name") or _text(form, "trusted_person-phone"):
        trusted = Contact(
            _text(form, "trusted_person-name"),
            _optional(form, "trusted_person-phone"),
            _optional(form, "trusted_person-relationship"),
        )
    gir = _text(form, "gir")
    return DluIn(
        ehpad_phone=_text(form, "ehpad_phone"),
        **_medical(form),
        trusted_person=trusted,
        gir=int(gir) if gir.isdigit() else None,
        advance_directives=bool(form.get("advance_directives")),
        advance_directives_location=_optional(form, "advance_directives_location"),
    )


def _form_page(
    page: Page,
    actor: Actor,
    rid: uuid.UUID,
    kind: str,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    holder: str = "",
) -> Response[str]:
    _ = page._
    chosen = values.get("risk_factors", []) if values else []
    return page.render(
        "pro_summary.html",
        status,
        title=_(KINDS[kind]),
        kind=kind,
        holder=holder,
        record_id=rid,
        rows=range(ROWS),
        antecedent_kinds=[(v, _(t)) for v, t in ANTECEDENT_KINDS],
        risk_factors=[(code, label, code in chosen) for code, label in RISK_FACTORS.items()],
        values=values or {},
        errors=errors or {},
        **_staff_nav(actor, page),
    )


def _holder_name(page: Page, actor: Actor, rid: uuid.UUID) -> str | Response[str]:
    """The patient's name for the form's heading (a journaled lookup: the policy answers)."""

    def work(db: Session) -> Response[str]:
        p = standing_of(db, actor, rid, page.edge.runtime.clock.now()).view.patient
        names.append(f"{p.given_names} {p.birth_family}")
        return page.redirect("")

    names: list[str] = []
    answer = _run(page, work, lambda _error: _not_found(page, actor))
    return names[0] if names else answer


def _show(request: Request[Any, Any, Any], record_id: str, kind: str) -> Response[str]:
    found = _professional(request)
    if isinstance(found, Response):
        return found
    page, actor = found
    rid = _record_id(page, record_id)
    if isinstance(rid, Response):
        return rid
    holder = _holder_name(page, actor, rid)
    if isinstance(holder, Response):
        return holder
    return _form_page(page, actor, rid, kind, holder=holder)


def _submit(request: Request[Any, Any, Any], record_id: str, data: dict[str, Any], kind: str) -> Response[str]:
    found = _posted_on_record(request, record_id, data)
    if isinstance(found, Response):
        return found
    page, actor, rid = found
    runtime = page.edge.runtime
    values = {k: v for k, v in data.items() if k != "csrf_token"}
    if isinstance(values.get("risk_factors"), str):
        values["risk_factors"] = [values["risk_factors"]]

    def work(db: Session) -> Response[str]:
        now, limit = runtime.clock.now(), runtime.settings.max_document_bytes
        if kind == "vsm":
            summaries.submit_vsm(db, actor, rid, _vsm_of(data), now, runtime.vault, max_size=limit)
        else:
            summaries.submit_dlu(db, actor, rid, _dlu_of(data), now, runtime.vault, max_size=limit)
        return page.redirect(f"/pro/dossier/{rid}")

    def refused(error: DomainError) -> Response[str]:
        if isinstance(error, FormInvalid):
            errors = {_field_id(path): _french(page, message) for path, message in error.issues}
            return _form_page(page, actor, rid, kind, 400, values, errors)
        if error.kind.value == "not-found":
            return _not_found(page, actor)
        alert = (
            page._("Seul le médecin traitant du patient rédige son VSM.")
            if kind == "vsm"
            else page._("Le DLU est rédigé par les professionnels de l'EHPAD où réside le patient.")
        )
        return _form_page(page, actor, rid, kind, 403, values, {"form": alert})

    return _run(page, work, refused)


@get("/pro/dossier/{record_id:str}/vsm", include_in_schema=False)
@threaded
def vsm_form(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    return _show(request, record_id, "vsm")


@post(
    "/pro/dossier/{record_id:str}/vsm", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES
)
@threaded
def vsm_submit(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    return _submit(request, record_id, data, "vsm")


@get("/pro/dossier/{record_id:str}/dlu", include_in_schema=False)
@threaded
def dlu_form(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    return _show(request, record_id, "dlu")


@post(
    "/pro/dossier/{record_id:str}/dlu", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES
)
@threaded
def dlu_submit(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    return _submit(request, record_id, data, "dlu")


ROUTES = [vsm_form, vsm_submit, dlu_form, dlu_submit]
