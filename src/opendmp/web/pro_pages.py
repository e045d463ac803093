"""Professionals', counter agents' and operators' way in: OpenID Connect (auth/oidc.py), then a
minimal landing page for each (the full professional space and counter are later issues).

The edge's part (docs/api/contract.md, "Professional and staff login"): the button that starts a
login (a CSRF-checked POST, so no other site can start one in this browser), the callback, the
session (the patients' machinery: web/patient_pages.py), the statuses, the transactions. The
call to the provider's token endpoint happens between two transactions, never inside one.
Pages for browsers, not an API: left out of the OpenAPI schema."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, get, post
from sqlalchemy.orm import Session

from opendmp.auth import oidc
from opendmp.auth import sessions as login_sessions
from opendmp.auth.account_models import SessionStage
from opendmp.consent import service as consents
from opendmp.identity.actor import NURSES, Actor, ActorKind
from opendmp.identity.ins import (
    Gender,
    Ins,
    InsSystem,
    StrictTraits,
    nir_key,
    normalise_nir,
    validate_birthplace,
    validate_nir,
)
from opendmp.journal import service as journal
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import AccessDenied, DomainError, HiddenFromActor, InvalidInput, NotFound
from opendmp.kit.threads import threaded
from opendmp.record import service as records
from opendmp.record.errors import AmbiguousTraits
from opendmp.record.service import PHARMACY_STAFF
from opendmp.runtime import Runtime
from opendmp.web import i18n
from opendmp.web.patient_pages import (
    MAX_FORM_BYTES,
    Edge,
    Form,
    Page,
    _csrf_ok,
    _csrf_refused,
    _current,
    _date,
    _journal_refusal,
    _limited,
    _posted,
    _text,
    address_of,
    edge_of,
    per_runtime,
)

HOME = {
    ActorKind.PROFESSIONAL: "/pro",
    ActorKind.COUNTER_AGENT: "/guichet",
    ActorKind.OPERATOR: "/operateur",
    ActorKind.PATIENT: "/mon-dossier",
}
START = {oidc.PROFESSIONAL: "/connexion/pro", oidc.STAFF: "/connexion/agent"}
LOGOUT = "/deconnexion/pro"
SYSTEMS = [
    (InsSystem.NIR.value, "NIR"),
    (InsSystem.NIA.value, "NIA (numéro d'attente)"),
    (InsSystem.TEST_NIR.value, "NIR de test"),
    (InsSystem.DEMO_NIR.value, "NIR de démonstration"),
]
# Links of the operator's home to other operators' pages, as they land (the dashboard: issue 8).
OPERATOR_LINKS: list[tuple[str, str]] = []
IDENTITY_REFUSED = "Votre identité a bien été vérifiée, mais vous n'avez pas accès à ce service (professionnel absent de l'annuaire, ou compte inconnu ou désactivé)."  # noqa: E501
STATUS_LABELS = {
    "pending-objection": "ouvert, délai d'opposition en cours",
    "active": "actif",
    "suspended": "suspendu",
    "closed": "fermé",
    "objected": "refusé par le patient",
    "deletion-requested": "suppression demandée",
}


class OidcEdge:
    """The relying parties of this runtime, one per configured provider (staff share the
    professionals' one unless a second provider is set). Tests reach it to point elsewhere."""

    def __init__(self, runtime: Runtime) -> None:
        configs = oidc.provider_configs(runtime.settings)
        parties: dict[int, oidc.RelyingParty] = {}
        self.parties = {intent: parties.setdefault(id(c), oidc.RelyingParty(c)) for intent, c in configs.items()}
        self.claim = runtime.settings.oidc_national_id_claim
        self.samu_role = (runtime.settings.oidc_samu_claim, runtime.settings.oidc_samu_value)
        self.after_logout = runtime.settings.public_base_url.rstrip("/") + START[oidc.PROFESSIONAL]


def oidc_edge_of(request: Request[Any, Any, Any]) -> OidcEdge:
    return per_runtime(request.app.state.runtime, "_oidc_edge", OidcEdge)


def _browser(edge: Edge, request: Request[Any, Any, Any]) -> str:
    """The pre-session cookie, keyed: the callback must come back to the browser that started."""
    value = request.cookies.get(edge.pre_cookie)
    return edge.secrets.digest("oidc-browser", value) if value else ""


# Professionals who open records at their counter and are paid for it (pharmacy, nurse channels).
COUNTER_PROFESSIONS = PHARMACY_STAFF | NURSES


def _staff_nav(actor: Actor, page: Page | None = None) -> dict[str, Any]:
    _ = page._ if page is not None else i18n.translator(i18n.DEFAULT)
    nav = [(HOME.get(actor.kind, "/"), _("Accueil"))]
    if actor.kind is ActorKind.COUNTER_AGENT or (
        actor.kind is ActorKind.PROFESSIONAL and actor.profession in COUNTER_PROFESSIONS
    ):
        nav += [("/guichet/ouverture", _("Ouvrir un DMP"))]
    if actor.kind is ActorKind.PROFESSIONAL and actor.profession in COUNTER_PROFESSIONS:
        nav += [("/guichet/remuneration", _("Rémunération"))]
    return {"nav": nav, "logout_action": LOGOUT}


def _unavailable(page: Page, intent: str) -> Response[str]:
    page.binding = None
    return page.render(
        "message.html",
        503,
        title=page._("Connexion indisponible"),
        alert=page._("Le service d'authentification ne répond pas ou n'est pas configuré. Réessayez plus tard."),
        lines=[],
        links=[(START[intent], page._("Réessayer"))],
    )


# ---------------------------------------------------------------- starting a login


INTENTS = {
    oidc.PROFESSIONAL: {
        "title": "Connexion professionnelle",
        "intro": "Professionnels de santé : connectez-vous avec votre carte CPS ou votre e-CPS par Pro Santé Connect.",
        "submit": "Se connecter avec Pro Santé Connect",
        "other": ("/connexion/agent", "Agents d'accueil de l'Assurance Maladie et opérateurs"),
    },
    oidc.STAFF: {
        "title": "Connexion des agents et opérateurs",
        "intro": "Agents d'accueil de l'Assurance Maladie et opérateurs de la plateforme : "
        "connectez-vous avec votre compte professionnel.",
        "submit": "Se connecter",
        "other": ("/connexion/pro", "Professionnels de santé"),
    },
}


def _start_form(request: Request[Any, Any, Any], intent: str) -> Response[str]:
    page = Page(edge_of(request), request)
    if intent not in oidc_edge_of(request).parties:
        return _unavailable(page, intent)
    page.pre_session()
    texts = INTENTS[intent]
    return page.render(
        "form.html",
        headers=_login_form_policy(oidc_edge_of(request).parties[intent]),
        title=page._(texts["title"]),
        action=START[intent],
        submit=page._(texts["submit"]),
        intro=page._(texts["intro"]),
        fields=[],
        links=[
            (texts["other"][0], page._(texts["other"][1])),
            ("/connexion", page._("Patients : se connecter à mon espace")),
        ],
        extra_forms=[],
    )


def _login_form_policy(rp: oidc.RelyingParty) -> dict[str, str]:
    """The login button's form is answered by a redirect to the provider: browsers apply the
    page's CSP form-action to that redirect too, so this page allows the provider's
    authorization endpoint (its origin only), and nothing else than the site itself."""
    from opendmp.app import CONTENT_SECURITY_POLICY  # the app imports these pages

    try:
        endpoint = rp.discovery().authorization_endpoint
    except oidc.ProviderUnavailable:
        endpoint = rp.config.issuer
    parts = urlsplit(endpoint)
    origin = f"{parts.scheme}://{parts.netloc}"
    policy = CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")
    return {"Content-Security-Policy": policy}


def _start(request: Request[Any, Any, Any], data: dict[str, Any], intent: str) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    page.pre_session()
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    if (limited := _limited(page, "oidc")) is not None:
        return limited
    rp = oidc_edge_of(request).parties.get(intent)
    if rp is None:
        return _unavailable(page, intent)
    assert page.binding is not None
    browser = edge.secrets.digest("oidc-browser", page.binding.removeprefix("pre:"))
    try:
        rp.discovery()  # outside the transaction: the provider may be slow
        with unit_of_work(edge.runtime.sessions) as db:
            url = oidc.begin_login(
                db, rp, intent, browser, edge.runtime.clock.now(), edge.policy.step, edge.secrets.random
            )
    except oidc.ProviderUnavailable:
        return _unavailable(page, intent)
    return page.redirect(url)


@get(START[oidc.PROFESSIONAL], include_in_schema=False)
@threaded
def professional_login_page(request: Request[Any, Any, Any]) -> Response[str]:
    return _start_form(request, oidc.PROFESSIONAL)


@post(START[oidc.PROFESSIONAL], status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def professional_login_start(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    return _start(request, data, oidc.PROFESSIONAL)


@get(START[oidc.STAFF], include_in_schema=False)
@threaded
def staff_login_page(request: Request[Any, Any, Any]) -> Response[str]:
    return _start_form(request, oidc.STAFF)


@post(START[oidc.STAFF], status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def staff_login_start(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    return _start(request, data, oidc.STAFF)


# ---------------------------------------------------------------- the provider's callback


def _refused(page: Page, error: oidc.LoginFailed, intent: str | None) -> Response[str]:
    runtime = page.edge.runtime
    with unit_of_work(runtime.sessions) as db:
        oidc.journal_refusal(db, error, intent, address_of(page.request), runtime.clock.now())
    page.binding = None
    if isinstance(error, oidc.IdentityRefused):
        status, alert = (
            403,
            page._(IDENTITY_REFUSED),
        )
    elif isinstance(error, oidc.FlowRefused):
        status, alert = 400, page._("Cette connexion n'a pas été commencée ici, ou a expiré. Recommencez.")
    else:
        status, alert = 401, page._("La connexion n'a pas abouti. Recommencez.")
    return page.render(
        "message.html",
        status,
        title=page._("Connexion refusée"),
        alert=alert,
        lines=[],
        links=[(START[intent or oidc.PROFESSIONAL], page._("Recommencer"))],
    )


@get(oidc.CALLBACK_PATH, include_in_schema=False)
@threaded
def login_callback(request: Request[Any, Any, Any]) -> Response[str]:
    edge, parties = edge_of(request), oidc_edge_of(request)
    page = Page(edge, request)
    runtime = edge.runtime
    state, code, failure = (request.query_params.get(k) for k in ("state", "code", "error"))
    intent: str | None = None
    try:
        with unit_of_work(runtime.sessions) as db:  # the state is spent, whatever follows
            pending = oidc.take_pending(db, state, _browser(edge, request), runtime.clock.now())
            intent, nonce, verifier = pending.provider, pending.nonce, pending.code_verifier
        rp = parties.parties.get(intent)
        if rp is None:
            return _unavailable(page, intent)
        if failure or not code:
            # The provider's own words are not journaled: a fixed code says what happened.
            reason = "provider-denied" if failure == "access_denied" else "provider-error"
            raise oidc.LoginFailed("the provider did not authenticate", reason=reason)
        claims = rp.verify_id_token(rp.redeem(code, verifier), nonce, runtime.clock.now())

        def work(db: Session) -> oidc.LoggedIn:
            now = runtime.clock.now()
            who = oidc.identify(db, pending.provider, rp, claims, parties.claim, parties.samu_role)
            token = login_sessions.start(
                db,
                who.actor,
                SessionStage.AUTHENTICATED,
                now,
                edge.policy,
                edge.secrets.random,
                staff_account_id=who.staff_account_id,
                replacing=request.cookies.get(edge.session_cookie),  # no fixation
                activity_key=edge.secrets.pepper,
            )
            oidc.journal_login(db, who, address_of(request), now)
            page.cookies.append(edge.cookie(edge.session_cookie, token))
            return who

        with unit_of_work(runtime.sessions) as db:
            who = work(db)
    except oidc.LoginFailed as error:
        return _refused(page, error, intent)
    except oidc.ProviderUnavailable:
        return _refused(page, oidc.LoginFailed("provider unavailable", reason="provider-unavailable"), intent)
    return page.redirect(HOME.get(who.actor.kind, "/"))


# ---------------------------------------------------------------- landing pages

# Who may use the counter's pages: the insurer's agents, and the professionals who open records at
# their counter (pharmacists, nurses, any professional: the policy decides who opens).
COUNTER_KINDS = frozenset({ActorKind.COUNTER_AGENT, ActorKind.PROFESSIONAL})
GENDERS = [(Gender.FEMALE.value, "Féminin"), (Gender.MALE.value, "Masculin")]


def _signed_in(page: Page, kind: ActorKind | frozenset[ActorKind]) -> tuple[str, Actor] | Response[str]:
    """The session's actor if it is of `kind`; else 401 (no session) or 403 (another profile)."""
    found = _current(page, SessionStage.AUTHENTICATED)
    if isinstance(found, Response):
        return found
    token, current = found
    actor = current.actor.at(address_of(page.request))
    kinds = kind if isinstance(kind, frozenset) else frozenset({kind})
    if actor.kind not in kinds:
        _journal_refusal(page.edge.runtime, actor, "auth:page", "wrong-profile")
        return page.render(
            "message.html",
            403,
            title=page._("Accès refusé"),
            alert=page._("Cette page n'est pas ouverte à votre profil."),
            lines=[],
            links=[(HOME.get(actor.kind, "/"), page._("Retour à mon accueil"))],
            **(_staff_nav(actor, page) if actor.kind is not ActorKind.PATIENT else {}),
        )
    return token, actor


def _who(actor: Actor, page: Page) -> list[str]:
    _ = page._
    if actor.kind is ActorKind.PROFESSIONAL:
        name = actor.display_name or actor.id
        lines = [
            _(
                "Connecté(e) : {name} — RPPS {rpps}, profession {profession}.",
                name=name,
                rpps=actor.id,
                profession=actor.profession,
            )
        ]
        if actor.organisation:
            lines.append(_("Structure d'exercice (FINESS) : {finess}.", finess=actor.organisation))
        return lines
    return [_("Connecté(e) : {name}, agent d'accueil (FINESS {finess}).", name=actor.id, finess=actor.organisation)]


def read_card_number(text: str) -> str:
    """The NIR as typed or scanned from the carte Vitale: spaces and dots allowed, the 2-digit key
    optional (computed when absent, checked when present). Raises InvalidInput naming the field.
    (The card's other printed numbers are not INS: only the 13 or 15-character NIR is read.)"""
    nir = normalise_nir(text)
    if len(nir) == 13:
        try:
            nir += f"{nir_key(nir):02d}"
        except ValueError as error:
            raise InvalidInput("not a NIR", field="ins") from error
    return validate_nir(nir, field="ins")


def nir_error(text: str, _: i18n.Translate) -> str | None:
    """The message shown next to a NIR field, in the page's language (None: the NIR is right)."""
    nir = normalise_nir(text)
    if not nir:
        return _("Saisissez le numéro de sécurité sociale (NIR).")
    if len(nir) not in (13, 15):
        return _("Un NIR a 13 caractères, ou 15 avec sa clé ({n} saisis).", n=len(nir))
    try:
        validate_nir(nir[:13] + f"{nir_key(nir[:13]):02d}")
    except (InvalidInput, ValueError):
        return _("Ce n'est pas un NIR valable (1 à 4, 7 ou 8 puis des chiffres, 2A/2B pour la Corse).")
    if len(nir) == 15 and nir[13:] != f"{nir_key(nir[:13]):02d}":
        return _("La clé du NIR ne correspond pas : vérifiez les chiffres saisis.")
    return None


def _search_page(page: Page, actor: Actor, status: int = 200, **kw: Any) -> Response[str]:
    _ = page._
    pro = actor.kind is ActorKind.PROFESSIONAL
    return page.render(
        "pro_home.html",
        status,
        title=_("Espace professionnel") if pro else _("Espace guichet"),
        lines=_who(actor, page),
        action=HOME[actor.kind],
        systems=[(v, _(t)) for v, t in SYSTEMS],
        genders=[(v, _(t)) for v, t in GENDERS],
        system=kw.pop("system", InsSystem.NIR.value),
        result=kw.pop("result", None),
        found=kw.pop("found", False),
        record_link=kw.pop("record_link", None),
        form=kw.pop("form", {}),
        errors=kw.pop("errors", {}),
        counter=actor.kind is ActorKind.COUNTER_AGENT or actor.profession in COUNTER_PROFESSIONS,
        **kw,
        **_staff_nav(actor, page),
    )


def _traits_of(data: dict[str, Any], _: i18n.Translate) -> tuple[StrictTraits | None, dict[str, str]]:
    """The five strict traits of a posted form, or the errors to show next to each field."""
    errors: dict[str, str] = {}
    family, given = _text(data, "nom"), _text(data, "prenoms")
    if not family:
        errors["nom"] = _("Saisissez le nom de naissance.")
    if not given:
        errors["prenoms"] = _("Saisissez le ou les prénoms de naissance.")
    born = _date(data, "naissance")
    if born is None:
        errors["naissance"] = _("Saisissez la date de naissance (jj/mm/aaaa).")
    try:
        gender = Gender(_text(data, "sexe"))
    except ValueError:
        gender = None
        errors["sexe"] = _("Choisissez le sexe.")
    try:
        place = validate_birthplace(_text(data, "lieu"), field="lieu")
    except InvalidInput:
        place = ""
        errors["lieu"] = _("Le code INSEE du lieu de naissance a 5 caractères (99 + pays pour l'étranger).")
    if errors or born is None or gender is None:
        return None, errors
    return StrictTraits(family, given, born, gender, place), {}


def _lookup(request: Request[Any, Any, Any], data: dict[str, Any], kind: ActorKind) -> Response[str]:
    """Find a patient by INS (the card number typed or scanned) or by the five strict traits;
    posted, so that no INS or name ever sits in a URL."""
    edge = edge_of(request)
    page = Page(edge, request)
    signed = _signed_in(page, kind)
    if isinstance(signed, Response):
        return signed
    actor = signed[1]
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    _ = page._
    by_traits = data.get("par") == "traits"
    chosen = data.get("systeme")
    system = next((s for s in InsSystem if s.value == chosen), InsSystem.NIR)
    if by_traits:
        traits, errors = _traits_of(data, _)
        if traits is None:
            return _search_page(page, actor, 400, form=dict(data), errors=errors)

        def search(db: Session) -> Any:
            return records.find_by_traits(db, actor, traits, edge.runtime.clock.now())
    else:
        error = nir_error(_text(data, "ins"), _)
        if error is not None:
            return _search_page(
                page, actor, 400, form={"ins": _text(data, "ins")}, errors={"ins": error}, system=system.value
            )
        ins = Ins(system, read_card_number(_text(data, "ins")))

        def search(db: Session) -> Any:
            return records.find_by_ins(db, actor, ins, edge.runtime.clock.now())

    try:
        with unit_of_work(edge.runtime.sessions) as db:
            hit = search(db)
    except (HiddenFromActor, NotFound):
        hit = None
    except AmbiguousTraits:
        return _search_page(
            page,
            actor,
            result=_("Plusieurs dossiers correspondent à ces traits : recherchez par l'INS."),
            system=system.value,
        )
    except DomainError:
        return _search_page(page, actor, result=_("Ce dossier n'est pas consultable."), system=system.value)
    if hit is None:
        return _search_page(page, actor, result=_("Aucun DMP accessible pour ce patient."), system=system.value)
    if actor.kind is ActorKind.PROFESSIONAL:
        return page.redirect(f"/pro/dossier/{hit.record.id}")
    p, status = hit.patient, _(STATUS_LABELS.get(hit.record.status, hit.record.status))
    text = _(
        "Ce patient a un DMP ({status}) : {given} {family}, né(e) le {born}.",
        status=status,
        given=p.given_names,
        family=p.birth_family,
        born=i18n.day(p.birth_date, page.lang),
    )
    return _search_page(page, actor, result=text, found=True, system=system.value)


def _landing(request: Request[Any, Any, Any], kind: ActorKind) -> Response[str]:
    page = Page(edge_of(request), request)
    signed = _signed_in(page, kind)
    return signed if isinstance(signed, Response) else _search_page(page, signed[1])


@get(HOME[ActorKind.PROFESSIONAL], include_in_schema=False)
@threaded
def professional_home(request: Request[Any, Any, Any]) -> Response[str]:
    return _landing(request, ActorKind.PROFESSIONAL)


@post(HOME[ActorKind.PROFESSIONAL], status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def professional_lookup(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    return _lookup(request, data, ActorKind.PROFESSIONAL)


@get(HOME[ActorKind.COUNTER_AGENT], include_in_schema=False)
@threaded
def counter_home(request: Request[Any, Any, Any]) -> Response[str]:
    return _landing(request, ActorKind.COUNTER_AGENT)


@post(HOME[ActorKind.COUNTER_AGENT], status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def counter_lookup(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    return _lookup(request, data, ActorKind.COUNTER_AGENT)


@get(HOME[ActorKind.OPERATOR], include_in_schema=False)
@threaded
def operator_home(request: Request[Any, Any, Any]) -> Response[str]:
    """Who may see it is the policy's call (emergency:review), not this page's."""
    edge = edge_of(request)
    page = Page(edge, request)
    found = _current(page, SessionStage.AUTHENTICATED)
    if isinstance(found, Response):
        return found
    actor = found[1].actor.at(address_of(request))
    nav = _staff_nav(actor, page) if actor.kind is not ActorKind.PATIENT else {}
    try:
        with unit_of_work(edge.runtime.sessions) as db:
            pending = consents.pending_reviews(db, actor, edge.runtime.clock.now())
    except (AccessDenied, HiddenFromActor):
        return page.render(
            "message.html",
            403,
            title=page._("Accès refusé"),
            alert=page._("Cette page est réservée aux opérateurs de la plateforme."),
            lines=[],
            links=[(HOME.get(actor.kind, "/"), page._("Retour à mon accueil"))],
            **nav,
        )
    return page.render(
        "message.html",
        title=page._("Espace opérateur"),
        lines=[
            page._("Connecté(e) : {name}, opérateur.", name=actor.id),
            page._("Accès d'urgence à examiner : {n}.", n=len(pending)),
        ],
        links=OPERATOR_LINKS and [(href, page._(text)) for href, text in OPERATOR_LINKS],
        **nav,
    )


# ---------------------------------------------------------------- logout


@post(LOGOUT, status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def logout(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    """Revokes the session here, then sends the browser to the provider's end_session_endpoint
    when it has one (RP-initiated logout), so the provider's session ends too."""
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    token, current = found
    actor = current.actor.at(address_of(request))
    now = edge.runtime.clock.now()
    with unit_of_work(edge.runtime.sessions) as db:
        login_sessions.revoke(db, token, now, "logout")
        target = ("staff-account", str(current.staff_account_id)) if current.staff_account_id else ("login", None)
        journal.append(db, actor, journal.Event("auth:logout", *target), record_id=None, at=now)
    page.cookies.append(edge.expired(edge.session_cookie))
    page.binding, page.logged_in = None, False
    parties = oidc_edge_of(request)
    rp = parties.parties.get(oidc.PROFESSIONAL if actor.kind is ActorKind.PROFESSIONAL else oidc.STAFF)
    end_session = rp.end_session_url(parties.after_logout) if rp is not None else None
    if end_session is not None:
        # Not a 303: browsers apply the form's CSP form-action ('self') to a redirect that follows
        # it, so the page that answers the logout sends the browser on to the provider itself.
        return page.render(
            "pro_logout.html",
            title=page._("Vous êtes déconnecté(e)"),
            end_session=end_session,
        )
    return page.render(
        "message.html",
        title=page._("Vous êtes déconnecté(e)"),
        lines=[page._("À bientôt.")],
        links=[(START[oidc.PROFESSIONAL], page._("Se reconnecter"))],
    )


ROUTES = [
    professional_login_page,
    professional_login_start,
    staff_login_page,
    staff_login_start,
    login_callback,
    professional_home,
    professional_lookup,
    counter_home,
    counter_lookup,
    operator_home,
    logout,
]
