"""A logged-in patient's account pages: a TOTP app as the second factor, and the delegations
given to caregivers. Same plumbing as the login pages (web/patient_pages.py): session checked,
CSRF on every POST, one transaction per request, refusals journaled by the services.

- TOTP: the secret is shown once, as text (base32 in groups of four, and the otpauth URI to paste
  into an app); it counts only once a first code from the app is confirmed; from then on the
  login asks for the app's code instead of sending one.
- Delegations: the holder (or a minor's legal representative) names a caregiver by NIR, its
  key checked; the caregiver, logged in with their own account, reads the record until revoked."""

from __future__ import annotations

import uuid
from typing import Any

import pyotp
from litestar import Request, Response, get, post
from sqlalchemy.orm import Session

from opendmp.auth import delegations, patients
from opendmp.auth.account_models import PatientAccount, SecondFactor, SessionStage
from opendmp.auth.hashing import group
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem, validate_nir
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import DomainError, InvalidInput
from opendmp.kit.ids import parse_id
from opendmp.kit.threads import threaded
from opendmp.web.patient_pages import (
    MAX_FORM_BYTES,
    Form,
    Page,
    _current,
    _field,
    _limited,
    _posted,
    _run,
    _status_of,
    _text,
    address_of,
    edge_of,
)

TOTP_ISSUER = "DMP"


def account_nav(page: Page) -> list[tuple[str, str]]:
    return [
        ("/mon-dossier", page._("Mon dossier")),
        ("/mon-compte/delegations", page._("Délégations")),
        ("/mon-compte/application", page._("Application d'authentification")),
        ("/mon-compte/mot-de-passe", page._("Mot de passe")),
    ]


# ---------------------------------------------------------------- TOTP app


def _totp_page(
    page: Page,
    status: int = 200,
    *,
    seed: str | None = None,
    uri: str | None = None,
    enrolled: bool = False,
    error: str | None = None,
    notice: str | None = None,
) -> Response[str]:
    return page.render(
        "totp.html",
        status,
        title=page._("Application d'authentification"),
        nav=account_nav(page),
        secret=group(seed) if seed else None,
        uri=uri,
        enrolled=enrolled,
        error=error,
        notice=notice,
    )


def _account(db: Session, account_id: uuid.UUID) -> PatientAccount:
    account = db.get(PatientAccount, account_id)
    assert account is not None  # the session's account: a live session implies it exists
    return account


@get("/mon-compte/application", include_in_schema=False)
@threaded
def totp_page(request: Request[Any, Any, Any]) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _current(page, SessionStage.AUTHENTICATED)
    if isinstance(found, Response):
        return found
    assert found[1].account_id is not None
    with unit_of_work(edge.runtime.sessions) as db:
        enrolled = _account(db, found[1].account_id).second_factor == SecondFactor.TOTP.value
    return _totp_page(page, enrolled=enrolled)


@post("/mon-compte/application", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def totp_begin(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    """A new secret, shown once, after the password is typed again; the previous app stops working
    until the new one is confirmed."""
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    if (limited := _limited(page, "login")) is not None:
        return limited
    account_id, subject = found[1].account_id, found[1].subject
    assert account_id is not None
    password = str(data.get("mot_de_passe") or "")

    def work(db: Session) -> Response[str]:
        now = edge.runtime.clock.now()
        seed = patients.begin_totp(
            db, account_id, now, edge.secrets, password=password, source_address=address_of(request), subject=subject
        )
        login_id = _account(db, account_id).login_id
        uri = pyotp.TOTP(seed).provisioning_uri(name=group(login_id, 5), issuer_name=TOTP_ISSUER)
        return _totp_page(page, seed=seed, uri=uri)

    def refused(error: DomainError) -> Response[str]:
        message = "Mot de passe incorrect." if isinstance(error, patients.LoginRefused) else error.message
        with unit_of_work(edge.runtime.sessions) as db:
            enrolled = _account(db, account_id).second_factor == SecondFactor.TOTP.value
        return _totp_page(page, _status_of(error), enrolled=enrolled, error=message)

    return _run(page, work, refused)


@post(
    "/mon-compte/application/confirmer", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES
)
@threaded
def totp_confirm(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    if (limited := _limited(page, "login")) is not None:
        return limited
    account_id = found[1].account_id
    assert account_id is not None

    def work(db: Session) -> Response[str]:
        patients.confirm_totp(
            db, account_id, _text(data, "code"), edge.runtime.clock.now(), edge.secrets, address_of(request)
        )
        return _totp_page(
            page,
            enrolled=True,
            notice=page._("Votre application est enregistrée : elle vous donnera le code à chaque connexion."),
        )

    def refused(error: DomainError) -> Response[str]:
        message = "Code incorrect : recommencez l'enregistrement." if isinstance(error, InvalidInput) else error.message
        return _totp_page(page, _status_of(error), error=message)

    return _run(page, work, refused)


# ---------------------------------------------------------------- delegations


def _managed_records(db: Session, actor: Actor) -> list[delegations.ActingRecord]:
    """The records whose delegations this login manages: own and children's (not delegated ones)."""
    return [r for r in delegations.records_of(db, actor) if r.relation != "delegate"]


def _delegate_system(actor: Actor) -> InsSystem:
    # A caregiver's INS is read from their carte Vitale: a NIR (a NIA holder's relatives have one
    # too); test and demo deployments keep their own systems so that their logins match.
    assert actor.ins is not None
    return InsSystem.NIR if actor.ins.system is InsSystem.NIA else actor.ins.system


def _delegations_page(
    page: Page,
    actor: Actor,
    status: int = 200,
    *,
    selected: uuid.UUID | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response[str]:
    now = page.edge.runtime.clock.now()
    with unit_of_work(page.edge.runtime.sessions) as db:
        records = _managed_records(db, actor)
        chosen = next((r for r in records if r.record_id == selected), records[0] if records else None)
        current = delegations.delegations_of(db, actor, chosen.record_id, now) if chosen else []
        rows = [{"id": str(d.id), "name": d.delegate_name, "since": f"{d.created_at:%d/%m/%Y}"} for d in current]
    v, e = values or {}, errors or {}
    return page.render(
        "delegations.html",
        status,
        title=page._("Délégations à un aidant"),
        nav=account_nav(page),
        records=records,
        selected=chosen.record_id if chosen else None,
        delegations=rows,
        notice=notice,
        fields=[
            _field(
                "nir",
                page._("Numéro de sécurité sociale de l'aidant (15 chiffres)"),
                value=v.get("nir", ""),
                error=e.get("nir"),
                inputmode="numeric",
                autocomplete="off",
                hint=page._("Il figure sur sa carte Vitale. L'aidant se connecte avec son propre espace DMP."),
            ),
            _field("nom", page._("Nom et prénom de l'aidant"), value=v.get("nom", ""), error=e.get("nom")),
        ],
    )


def _selected(form_or_query: Any) -> uuid.UUID | None:
    value = form_or_query.get("dossier")
    return parse_id(value) if isinstance(value, str) else None


@get("/mon-compte/delegations", include_in_schema=False)
@threaded
def delegations_page(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(edge_of(request), request)
    found = _current(page, SessionStage.AUTHENTICATED)
    if isinstance(found, Response):
        return found
    return _delegations_page(page, found[1].actor.at(address_of(request)), selected=_selected(request.query_params))


@post("/mon-compte/delegations", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def delegation_grant(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    actor = found[1].actor.at(address_of(request))
    selected = _selected(data)
    try:
        delegate = Ins(_delegate_system(actor), validate_nir(_text(data, "nir"), field="nir"))
    except InvalidInput:
        return _delegations_page(
            page,
            actor,
            400,
            selected=selected,
            values=data,
            errors={"nir": "Ce numéro n'est pas valable : vérifiez les 15 chiffres, clé comprise."},
        )
    with unit_of_work(edge.runtime.sessions) as db:
        record = next((r for r in _managed_records(db, actor) if r.record_id == selected), None)
    if record is None:
        return _delegations_page(page, actor, 404, notice=page._("Ce dossier n'est pas l'un des vôtres."))
    record_id = record.record_id

    def work(db: Session) -> Response[str]:
        delegations.grant_delegation(db, actor, record_id, delegate, _text(data, "nom"), edge.runtime.clock.now())
        return page.redirect(f"/mon-compte/delegations?dossier={record_id}")

    def refused(error: DomainError) -> Response[str]:
        where = "nom" if error.field == "delegateName" else "nir"
        message = (
            "Indiquez le nom de l'aidant."
            if where == "nom"
            else "Cette personne a déjà accès à ce dossier."
            if isinstance(error, InvalidInput)
            else "Vous ne pouvez pas gérer les délégations de ce dossier."
        )
        return _delegations_page(
            page, actor, _status_of(error), selected=record_id, values=data, errors={where: message}
        )

    return _run(page, work, refused)


@post("/mon-compte/delegations/retirer", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def delegation_revoke(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    actor = found[1].actor.at(address_of(request))
    selected, delegation_id = _selected(data), parse_id(_text(data, "delegation"))
    with unit_of_work(edge.runtime.sessions) as db:
        record = next((r for r in _managed_records(db, actor) if r.record_id == selected), None)
    if record is None or delegation_id is None:
        return _delegations_page(page, actor, 404, notice=page._("Cette délégation n'existe pas."))
    record_id = record.record_id

    def work(db: Session) -> Response[str]:
        delegations.revoke_delegation(db, actor, record_id, delegation_id, edge.runtime.clock.now())
        return page.redirect(f"/mon-compte/delegations?dossier={record_id}")

    return _run(
        page,
        work,
        lambda error: _delegations_page(
            page, actor, 404, selected=record_id, notice=page._("Cette délégation n'existe pas.")
        ),
    )


ROUTES = [totp_page, totp_begin, totp_confirm, delegations_page, delegation_grant, delegation_revoke]
