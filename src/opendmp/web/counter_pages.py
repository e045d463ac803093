"""The counter: opening a record for the person in front of the opener (an insurer's counter
agent, a pharmacist or nurse logged in through Pro Santé Connect) in under a minute: the identity
traits with the NIR key checked as it is typed (htmx posts the field to a small endpoint that
answers the field again, checked; the same check runs on submit), the person's consent, the
opening (record.service.open_record: the channel follows from the opener), and the credentials
letter (auth/letters.py) to print and hand over.

The activation code is shown once, on the page that follows the opening; the PDF letter draws a
fresh code that replaces it (letters.reprint, for the opener only, shortly after opening)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy.orm import Session

from opendmp.access.policy import Payee
from opendmp.auth import letters
from opendmp.auth.hashing import group
from opendmp.identity.actor import NURSES, Actor, ActorKind
from opendmp.identity.ins import Ins, InsSystem, check_traits_against_nir
from opendmp.kit.errors import DomainError, InvalidInput
from opendmp.kit.ids import parse_id
from opendmp.kit.threads import threaded
from opendmp.record import service as records
from opendmp.record.errors import RecordAlreadyExists
from opendmp.record.service import PHARMACY_STAFF
from opendmp.stats import statements
from opendmp.stats.models import Beneficiary
from opendmp.web import i18n
from opendmp.web.patient_pages import MAX_FORM_BYTES, Form, Page, _csrf_ok, _csrf_refused, _run, _text, edge_of
from opendmp.web.pro_pages import (
    COUNTER_KINDS,
    GENDERS,
    HOME,
    _signed_in,
    _staff_nav,
    _traits_of,
    nir_error,
    read_card_number,
)

OPEN = "/guichet/ouverture"
CHECK_NIR = "/guichet/ouverture/nir"
LETTER = "/guichet/courrier/{record_id:str}"
METHODS = [("oral", "Oral, après information"), ("written", "Écrit (formulaire signé)")]
# Where a trait the service refused is shown (the service names the FHIR field).
LETTER_REFUSED = "Ce courrier ne peut plus être imprimé ici (délai dépassé, ou espace déjà activé) : le patient peut demander un nouveau code à un guichet de l'Assurance Maladie."  # noqa: E501
TRAIT_FIELDS = {"gender": "sexe", "birthDate": "naissance", "birthPlace": "lieu", "ins": "ins"}


def _counter(request: Request[Any, Any, Any]) -> tuple[Page, Actor] | Response[str]:
    page = Page(edge_of(request), request)
    signed = _signed_in(page, COUNTER_KINDS)
    return signed if isinstance(signed, Response) else (page, signed[1])


def _form_page(page: Page, actor: Actor, status: int = 200, **kw: Any) -> Response[str]:
    _ = page._
    return page.render(
        "counter_open.html",
        status,
        title=_("Ouvrir un DMP"),
        who=actor.display_name or actor.id,
        genders=[(v, _(t)) for v, t in GENDERS],
        methods=[(v, _(t)) for v, t in METHODS],
        form=kw.pop("form", {"methode": "oral"}),
        errors=kw.pop("errors", {}),
        alert=kw.pop("alert", None),
        **kw,
        **_staff_nav(actor, page),
    )


@get(OPEN, include_in_schema=False)
@threaded
def open_form(request: Request[Any, Any, Any]) -> Response[str]:
    found = _counter(request)
    return found if isinstance(found, Response) else _form_page(*found)


@post(CHECK_NIR, status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def check_nir(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    """The NIR field again, checked (key, shape): htmx swaps it in as the agent types."""
    found = _counter(request)
    if isinstance(found, Response):
        return found
    page, _actor = found
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    typed = _text(data, "ins")
    error = nir_error(typed, page._) if typed else None
    return page.render(
        "counter_nir.html",
        form={"ins": typed},
        errors={"ins": error} if error else {},
        checked=bool(typed) and not error,
    )


@post(OPEN, status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def open_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    found = _counter(request)
    if isinstance(found, Response):
        return found
    page, actor = found
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    _ = page._
    shown = {k: _text(data, k) for k in ("ins", "nom", "prenoms", "naissance", "sexe", "lieu", "methode")}
    shown["consentement"] = "1" if data.get("consentement") else ""
    errors: dict[str, str] = {}
    if (nir_problem := nir_error(shown["ins"], _)) is not None:
        errors["ins"] = nir_problem
    traits, trait_errors = _traits_of(data, _)
    errors.update(trait_errors)
    if not data.get("consentement"):
        errors["consentement"] = _("Le patient doit consentir à l'ouverture de son DMP, après avoir été informé.")
    method = shown["methode"] if shown["methode"] in dict(METHODS) else None
    if method is None:
        errors["methode"] = _("Choisissez comment le consentement a été recueilli.")
    if traits is not None and "ins" not in errors:
        try:
            check_traits_against_nir(read_card_number(shown["ins"]), traits.normalised())
        except InvalidInput as error:
            errors[TRAIT_FIELDS.get(error.field or "", "ins")] = _(
                "Ce trait ne correspond pas au NIR (sexe, année et mois, lieu de naissance sont codés dans le NIR)."
            )
    if errors or traits is None:
        return _form_page(page, actor, 400, form=shown, errors=errors)
    runtime = page.edge.runtime
    now = runtime.clock.now()
    opening = records.OpeningRequest(
        ins=Ins(InsSystem.NIR, read_card_number(shown["ins"])),
        traits=traits,
        consent_at=now,
        consent_method=method,
    )

    def work(db: Session) -> Response[str]:
        view = records.open_record(
            db, actor, opening, now, policy=runtime.settings.opening_policy, secrets=page.edge.secrets
        )
        from opendmp.feed import service as reimbursements  # the parked history joins the new record

        reimbursements.attach_at_opening(db, runtime.vault.keys, view.record.id, view.patient.ins_value, now)
        p, credentials = view.patient, view.credentials
        return page.render(
            "counter_opened.html",
            title=_("DMP ouvert"),
            record_id=view.record.id,
            holder=f"{p.given_names} {p.birth_family}",
            login=group(credentials.login_id, 5) if credentials else None,
            code=credentials.activation_code if credentials else None,
            expires=i18n.moment(credentials.expires_at, page.lang) if credentials else None,
            sent_to=credentials.sent_to if credentials else None,
            activation=letters.activation_url(runtime.settings.public_base_url),
            **_staff_nav(actor, page),
        )

    def refused(error: DomainError) -> Response[str]:
        if isinstance(error, RecordAlreadyExists):
            return _form_page(
                page, actor, 409, form=shown, alert=_("Ce patient a déjà un DMP : il n'est pas rouvert ici.")
            )
        if error.kind.value == "invalid" and error.field in TRAIT_FIELDS:
            message = _(
                "Ce trait ne correspond pas au NIR (sexe, année et mois, lieu de naissance sont codés dans le NIR)."
            )
            return _form_page(page, actor, 400, form=shown, errors={TRAIT_FIELDS[error.field]: message})
        return _form_page(
            page, actor, 403, form=shown, alert=_("L'ouverture n'est pas possible : {reason}", reason=error.message)
        )

    return _run(page, work, refused)


@post(LETTER, status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def credentials_letter(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[Any]:
    """The letter to print (PDF, a download): a fresh code, which replaces the one shown before."""
    found = _counter(request)
    if isinstance(found, Response):
        return found
    page, actor = found
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    rid = parse_id(record_id)
    runtime = page.edge.runtime
    printed: list[bytes] = []

    def work(db: Session) -> Response[str]:
        assert rid is not None
        credentials, holder = letters.reprint(db, actor, rid, runtime.clock.now(), page.edge.secrets)
        printed.append(letters.render(credentials, holder, letters.activation_url(runtime.settings.public_base_url)))
        return page.redirect("")

    def refused(_error: DomainError) -> Response[str]:
        return page.render(
            "message.html",
            403,
            title=_letter_title(page),
            alert=page._(LETTER_REFUSED),
            lines=[],
            links=[(OPEN, page._("Ouvrir un autre DMP"))],
            **_staff_nav(actor, page),
        )

    if rid is None:
        return refused(InvalidInput("no such record"))
    answer = _run(page, work, refused)
    if not printed:
        return answer
    day = datetime.now(UTC).strftime("%Y%m%d")
    return Response(
        printed[0],
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'attachment; filename="courrier-dmp-{day}.pdf"',
        },
    )


def _letter_title(page: Page) -> str:
    return page._("Courrier d'activation")


# ---------------------------------------------------------------- the remuneration ledger

LEDGER = "/guichet/remuneration"


def _payee(actor: Actor) -> Payee | None:
    """Whose statement this professional asks for: their pharmacy's (by FINESS), or their own as a
    nurse (by RPPS). Whether they may read it is the policy's answer (remuneration:statement)."""
    if actor.kind is not ActorKind.PROFESSIONAL:
        return None
    if actor.profession in PHARMACY_STAFF and actor.organisation:
        return Payee(Beneficiary.PHARMACY.value, actor.organisation)
    if actor.profession in NURSES and actor.rpps:
        return Payee(Beneficiary.NURSE.value, actor.rpps)
    return None


def _month_of(request: Request[Any, Any, Any], now: datetime) -> date:
    raw = request.query_params.get("mois")
    if isinstance(raw, str):
        try:
            return statements.parse_month(raw, field_name="mois")
        except InvalidInput:
            pass
    return date(now.year, now.month, 1)


def _ledger(request: Request[Any, Any, Any], pdf: bool) -> Response[Any]:
    found = _counter(request)
    if isinstance(found, Response):
        return found
    page, actor = found
    runtime = page.edge.runtime
    now = runtime.clock.now()
    month = _month_of(request, now)
    payee = _payee(actor)
    statement: list[statements.Statement] = []

    def work(db: Session) -> Response[str]:
        assert payee is not None
        statement.append(statements.statement_for(db, actor, payee, month, now))
        return page.redirect("")

    def refused(_error: DomainError) -> Response[str]:
        return page.render(
            "message.html",
            403,
            title=page._("Rémunération"),
            alert=page._(
                "Le relevé de rémunération est celui de la pharmacie où vous exercez, ou le vôtre comme infirmier(e)."
            ),
            lines=[],
            links=[(HOME.get(actor.kind, "/"), page._("Retour à mon accueil"))],
            **_staff_nav(actor, page),
        )

    if payee is None:  # no pharmacy, not a nurse: no statement to ask the service for
        return refused(InvalidInput("no payee"))
    answer = _run(page, work, refused)
    if not statement:
        return answer
    got = statement[0]
    if pdf:
        return Response(
            statements.to_pdf([got]),
            media_type="application/pdf",
            headers={
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Content-Disposition": f'attachment; filename="releve-dmp-{month:%Y-%m}.pdf"',
            },
        )
    previous = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    following = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return page.render(
        "counter_ledger.html",
        title=page._("Rémunération des ouvertures de DMP"),
        name=got.name,
        payee=got.payee,
        month=month,
        days=[(i18n.day(d, page.lang), n, _euros(c, page.lang)) for d, n, c in got.days],
        openings=got.openings,
        total=_euros(got.total_cents, page.lang),
        previous=f"{previous:%Y-%m}",
        following=f"{following:%Y-%m}" if following <= date(now.year, now.month, 1) else None,
        **_staff_nav(actor, page),
    )


def _euros(cents: int, lang: str) -> str:
    return i18n.number(cents / 100, lang, decimals=2) + " €"


@get(LEDGER, include_in_schema=False)
@threaded
def ledger_page(request: Request[Any, Any, Any]) -> Response[Any]:
    return _ledger(request, pdf=False)


@get(LEDGER + "/releve.pdf", include_in_schema=False)
@threaded
def ledger_pdf(request: Request[Any, Any, Any]) -> Response[Any]:
    return _ledger(request, pdf=True)


ROUTES = [open_form, check_nir, open_submit, credentials_letter, ledger_page, ledger_pdf]
