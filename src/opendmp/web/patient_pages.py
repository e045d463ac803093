"""The patient's way in, as plain server-rendered forms (no JavaScript needed): activation,
login with a one-time code, logout, password change and recovery, and a minimal "my record".

The edge's part (docs/api/contract.md, "Patient login"): cookies, CSRF tokens, statuses, the
transaction, and journaling refusals that happen before any service runs (CSRF, sessions).
Every answer carries `Cache-Control: no-store`. Pages for browsers, not an API: left out of the
OpenAPI schema (the contract documents them).

CSRF (docs/decisions/0016-patient-authentication.md): a synchroniser token bound to the session,
HMAC(pepper, session id), checked on every POST; forms shown before any session exist (login,
activation, recovery) bind it to a random pre-session cookie instead (double submit, keyed)."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy.orm import Session

from opendmp.auth import patients
from opendmp.auth import sessions as login_sessions
from opendmp.auth.account_models import SecondFactor, SessionStage
from opendmp.auth.hashing import AuthSecrets, group
from opendmp.auth.throttle import AddressLimiter
from opendmp.identity.actor import Actor
from opendmp.journal import service as journal
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import DomainError, InvalidInput
from opendmp.kit.threads import threaded
from opendmp.runtime import Runtime
from opendmp.web import i18n, render

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
REMEMBER_MAX_AGE = 365 * 24 * 3600
# Forms are a few short fields: a small limit, so that no one posts document-sized bodies to
# pages open to anyone (the app-wide limit is sized for FHIR bundles).
MAX_FORM_BYTES = 16 * 1024
PRE_SESSION_MAX_AGE = 3600
RELATIONS = {"holder": "votre dossier", "representative": "enfant (représentant légal)", "delegate": "délégation"}


# ---------------------------------------------------------------- plumbing


class Edge:
    """What the pages need from the runtime: secrets, the address limiter, the session policy,
    cookie names. One per runtime (tests reach it to inject randomness or spies)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.secrets = AuthSecrets.from_master_key(runtime.keys.master_key)
        self.limiter: AddressLimiter = runtime.address_limiter
        self.policy = login_sessions.SessionPolicy.from_settings(runtime.settings)
        self.secure = runtime.settings.secure_cookies
        # __Host- cookies: Secure, no Domain, path "/": no sibling host can set or shadow them.
        prefix = "__Host-" if self.secure else ""
        self.session_cookie = f"{prefix}dmp_session"
        self.pre_cookie = f"{prefix}dmp_pre"
        self.remember_cookie = f"{prefix}dmp_identifiant"
        # Set by a completed login: this device's failures count apart (patients.login_subject).
        self.device_cookie = f"{prefix}dmp_appareil"

    def cookie(self, name: str, value: str, max_age: int | None = None) -> Cookie:
        return Cookie(
            key=name, value=value, path="/", httponly=True, secure=self.secure, samesite="lax", max_age=max_age
        )

    def expired(self, name: str) -> Cookie:
        return Cookie(key=name, value="", path="/", httponly=True, secure=self.secure, samesite="lax", max_age=0)


T = TypeVar("T")


def per_runtime(runtime: Runtime, name: str, make: Callable[[Runtime], T]) -> T:
    """An object the pages build once per runtime (its secrets, providers, caches) and keep on it:
    tests that build their own runtime get their own."""
    made: T | None = getattr(runtime, name, None)
    if made is None:
        made = make(runtime)
        setattr(runtime, name, made)
    return made


def edge_of(request: Request[Any, Any, Any]) -> Edge:
    return per_runtime(request.app.state.runtime, "_patient_edge", Edge)


def address_of(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def _csrf_for(edge: Edge, binding: str) -> str:
    return edge.secrets.digest("csrf", binding)


class Page:
    """An answer being built: template, status, cookies to set."""

    def __init__(self, edge: Edge, request: Request[Any, Any, Any]) -> None:
        self.edge = edge
        self.request = request
        self.cookies: list[Cookie] = []
        self.binding: str | None = None  # what the CSRF token of the rendered forms is bound to
        self.logged_in = False
        self.lang = render.language(request)
        self._ = i18n.translator(self.lang)

    def pre_session(self) -> None:
        """Forms before any session: bind their token to the pre-session cookie (made if absent)."""
        value = self.request.cookies.get(self.edge.pre_cookie)
        if not value:
            value = self.edge.secrets.random.token(32)
            self.cookies.append(self.edge.cookie(self.edge.pre_cookie, value, PRE_SESSION_MAX_AGE))
        self.binding = "pre:" + value

    def session(self, token: str) -> None:
        self.binding = "session:" + token

    def render(
        self, template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
    ) -> Response[str]:
        token = _csrf_for(self.edge, self.binding) if self.binding else ""
        html = render.render(
            template, self.lang, self.request.url.path, csrf_token=token, logged_in=self.logged_in, **context
        )
        return Response(
            html, status_code=status, media_type=MediaType.HTML, headers=_headers(headers), cookies=self.cookies
        )

    def redirect(self, to: str) -> Response[str]:
        return Response("", status_code=303, headers=_headers({"Location": to}), cookies=self.cookies)


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **(extra or {})}


def _journal_refusal(runtime: Runtime, actor: Actor, action: str, reason: str) -> None:
    """A refusal at the edge (no service ran): journaled on the system chain in its own transaction."""
    with unit_of_work(runtime.sessions) as db:
        journal.append(
            db,
            actor,
            journal.Event(action, "platform", None, outcome=journal.Outcome.FAILURE, reason=reason),
            record_id=None,
            at=runtime.clock.now(),
        )


def _csrf_ok(page: Page, form: dict[str, Any]) -> bool:
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not sent or page.binding is None:
        return False
    return hmac.compare_digest(sent, _csrf_for(page.edge, page.binding))


def _csrf_refused(page: Page) -> Response[str]:
    if (limited := _limited(page, "refused-form")) is not None:
        return limited  # a flood of forged forms: answered, not journaled
    _journal_refusal(
        page.edge.runtime, patients.anonymous(address_of(page.request)), "auth:csrf", "missing-or-wrong-token"
    )
    page.binding = None
    return page.render(
        "message.html",
        403,
        title=page._("Formulaire expiré"),
        alert=page._("Ce formulaire a expiré ou ne vient pas de ce site. Rechargez la page et recommencez."),
        lines=[],
        links=[("/connexion", page._("Se connecter"))],
    )


def _limited(page: Page, scope: str) -> Response[str] | None:
    wait = page.edge.limiter.hit(address_of(page.request), scope)
    if wait is None:
        return None
    return _too_many(page, wait.seconds)


def _too_many(page: Page, seconds: int) -> Response[str]:
    minutes = max(1, (seconds + 59) // 60)
    return page.render(
        "message.html",
        429,
        headers={"Retry-After": str(seconds)},
        title=page._("Trop de tentatives"),
        alert=page._("Trop de tentatives. Pour votre sécurité, réessayez dans {minutes} minute(s).", minutes=minutes),
        lines=[page._("Si vous avez oublié votre mot de passe, vous pouvez le réinitialiser.")],
        links=[("/mot-de-passe-oublie", page._("Mot de passe oublié"))],
    )


def _posted(
    page: Page, stage: SessionStage, form: dict[str, Any]
) -> tuple[str, login_sessions.CurrentSession] | Response[str]:
    """A form posted within a live session of `stage`: the session, or the answer to give (401
    without one, 403 when the form's CSRF token is missing or wrong)."""
    found = _current(page, stage)
    if isinstance(found, Response):
        return found
    if not _csrf_ok(page, form):
        return _csrf_refused(page)
    return found


def _current(page: Page, stage: SessionStage) -> tuple[str, login_sessions.CurrentSession] | Response[str]:
    """The live session of this stage, or the answer to give (401, journaled when an id was sent)."""
    edge, runtime = page.edge, page.edge.runtime
    token = page.request.cookies.get(edge.session_cookie)
    try:
        with unit_of_work(runtime.sessions) as db:
            current = login_sessions.current(db, token, runtime.clock.now(), edge.policy, stage=stage)
    except login_sessions.SessionInvalid as refused:
        if token and (limited := _limited(page, "refused-session")) is not None:
            return limited  # a flood of made-up session ids: answered, not journaled
        if token:
            _journal_refusal(runtime, patients.anonymous(address_of(page.request)), "auth:session", refused.reason)
        page.cookies.append(edge.expired(edge.session_cookie))
        page.binding = None
        return page.render(
            "message.html",
            401,
            title=page._("Connexion nécessaire"),
            alert=page._("Votre session a expiré ou n'est pas valable. Veuillez vous connecter."),
            lines=[],
            links=[("/connexion", page._("Se connecter")), ("/activation", page._("Activer mon espace"))],
        )
    assert token is not None
    page.session(token)
    page.logged_in = stage is SessionStage.AUTHENTICATED
    return token, current


def _rotate(
    page: Page,
    db: Session,
    actor: Actor,
    stage: SessionStage,
    account_id: uuid.UUID | None,
    subject: str | None = None,
) -> None:
    """A new session id for the new privilege; the one the browser held (if any) is revoked."""
    edge = page.edge
    old = page.request.cookies.get(edge.session_cookie)
    token = login_sessions.start(
        db,
        actor,
        stage,
        edge.runtime.clock.now(),
        edge.policy,
        edge.secrets.random,
        account_id=account_id,
        subject=subject,
        replacing=old,
        activity_key=edge.secrets.pepper,
    )
    page.cookies.append(edge.cookie(edge.session_cookie, token))
    page.session(token)


def _field(name: str, label: str, kind: str = "text", **kw: Any) -> dict[str, Any]:
    return {"name": name, "label": label, "type": kind, **kw}


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _date(form: dict[str, Any], name: str) -> date | None:
    try:
        return date.fromisoformat(_text(form, name))
    except ValueError:
        return None


def _run(
    page: Page, work: Callable[[Session], Response[str]], on_error: Callable[[DomainError], Response[str]]
) -> Response[str]:
    """One transaction; a domain error is answered by `on_error` (refusals keep their journal).
    Cookies and the CSRF binding set by a failed `work` are dropped with its transaction."""
    cookies, binding = list(page.cookies), page.binding
    try:
        with unit_of_work(page.edge.runtime.sessions) as db:
            return work(db)
    except DomainError as error:
        page.cookies, page.binding = cookies, binding
        if isinstance(error, patients.BackingOff):
            return _too_many(page, error.retry_after)
        return on_error(error)


def _status_of(error: DomainError) -> int:
    return 401 if isinstance(error, patients.LoginRefused | patients.CodeRefused | patients.ActivationRefused) else 400


# ---------------------------------------------------------------- login


def _login_form(
    page: Page,
    status: int = 200,
    identifier: str = "",
    remember: bool = False,
    error: str | None = None,
    notice: str | None = None,
) -> Response[str]:
    page.pre_session()
    return page.render(
        "form.html",
        status,
        title=page._("Se connecter à mon espace DMP"),
        action="/connexion",
        submit=page._("Continuer"),
        notice=notice,
        fields=[
            _field(
                "identifiant",
                page._("Identifiant"),
                value=identifier,
                autocomplete="username",
                hint=page._("Il figure sur le courrier reçu à l'ouverture de votre dossier (par exemple ABCDE-FGHJK)."),
            ),
            _field("mot_de_passe", page._("Mot de passe"), "password", autocomplete="current-password", error=error),
            _field(
                "se_souvenir", page._("Se souvenir de mon identifiant sur cet appareil"), "checkbox", value=remember
            ),
        ],
        links=[
            ("/identifiant-oublie", page._("Identifiant oublié")),
            ("/mot-de-passe-oublie", page._("Mot de passe oublié")),
            ("/activation", page._("Première connexion : activer mon espace")),
        ],
        extra_forms=[("/connexion/oublier", page._("Ne plus retenir mon identifiant sur cet appareil"))]
        if identifier
        else [],
    )


@get("/connexion", include_in_schema=False)
@threaded
def login_page(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(edge_of(request), request)
    remembered = request.cookies.get(page.edge.remember_cookie, "")
    return _login_form(page, identifier=group(remembered, 5) if remembered else "", remember=bool(remembered))


@post("/connexion", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def login_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    page.pre_session()
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    if (limited := _limited(page, "login")) is not None:
        return limited
    identifier, password = _text(data, "identifiant"), data.get("mot_de_passe") or ""
    remember = bool(data.get("se_souvenir"))
    now = edge.runtime.clock.now()

    device_mark = request.cookies.get(edge.device_cookie)

    def work(db: Session) -> Response[str]:
        account = patients.check_password(
            db, identifier, str(password), now, edge.secrets, address_of(request), device_mark=device_mark
        )
        actor = patients.holder_actor(db, account, address_of(request))
        subject = patients.login_subject(edge.secrets, identifier, account, device_mark)
        _rotate(page, db, actor, SessionStage.SECOND_FACTOR, account.id, subject)
        patients.send_login_code(db, account.id, now, edge.secrets)
        if remember:
            page.cookies.append(edge.cookie(edge.remember_cookie, account.login_id, REMEMBER_MAX_AGE))
        return page.redirect("/connexion/code")

    def refused(error: DomainError) -> Response[str]:
        message = (
            error.message
            if isinstance(error, patients.LoginRefused)
            else page._("Aucun téléphone ni courriel vérifié : adressez-vous à un guichet de l'Assurance Maladie.")
        )
        return _login_form(page, _status_of(error), identifier, remember, error=message)

    return _run(page, work, refused)


@post("/connexion/oublier", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def forget_identifier(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    page.pre_session()
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    page.cookies.append(edge.expired(edge.remember_cookie))
    return page.redirect("/connexion")


def _code_form(page: Page, status: int = 200, error: str | None = None, notice: str | None = None) -> Response[str]:
    return page.render(
        "form.html",
        status,
        title=page._("Code de connexion"),
        action="/connexion/code",
        submit=page._("Se connecter"),
        notice=notice,
        intro=page._("Saisissez le code à 6 chiffres reçu par SMS ou courriel (ou celui de votre application)."),
        fields=[
            _field("code", page._("Code à 6 chiffres"), autocomplete="one-time-code", inputmode="numeric", error=error)
        ],
        links=[],
        extra_forms=[("/connexion/code/renvoyer", page._("Recevoir un nouveau code"))],
    )


@get("/connexion/code", include_in_schema=False)
@threaded
def code_page(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(edge_of(request), request)
    found = _current(page, SessionStage.SECOND_FACTOR)
    return found if isinstance(found, Response) else _code_form(page)


@post("/connexion/code", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def code_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.SECOND_FACTOR, data)
    if isinstance(found, Response):
        return found
    if (limited := _limited(page, "login")) is not None:
        return limited
    _, current = found
    account_id, subject = current.account_id, current.subject
    assert account_id is not None
    now = edge.runtime.clock.now()

    def work(db: Session) -> Response[str]:
        actor = patients.check_second_factor(
            db, account_id, _text(data, "code"), now, edge.secrets, address_of(request), subject=subject
        )
        _rotate(page, db, actor, SessionStage.AUTHENTICATED, account_id, subject)
        # This device completed a login: from now on its failures count apart from anyone else's.
        known = edge.secrets.known_device(str(account_id), request.cookies.get(edge.device_cookie))
        mark = edge.secrets.mark_device(str(account_id), known)
        page.cookies.append(edge.cookie(edge.device_cookie, mark, REMEMBER_MAX_AGE))
        return page.redirect("/mon-dossier")

    return _run(page, work, lambda error: _code_form(page, _status_of(error), error=error.message))


@post("/connexion/code/renvoyer", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def code_resend(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.SECOND_FACTOR, data)
    if isinstance(found, Response):
        return found
    if (limited := _limited(page, "code-resend")) is not None:
        return limited
    _, current = found
    assert current.account_id is not None
    account_id = current.account_id

    def work(db: Session) -> Response[str]:
        where = patients.send_login_code(db, account_id, edge.runtime.clock.now(), edge.secrets)
        return _code_form(
            page, notice=page._("Un nouveau code a été envoyé ({where}).", where=where) if where else None
        )

    return _run(page, work, lambda error: _code_form(page, 400, error=error.message))


@post("/deconnexion", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def logout(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    token, current = found
    with unit_of_work(edge.runtime.sessions) as db:
        now = edge.runtime.clock.now()
        login_sessions.revoke(db, token, now, "logout")
        journal.append(
            db,
            current.actor.at(address_of(request)),
            journal.Event("auth:logout", "patient-account", str(current.account_id)),
            record_id=None,
            at=now,
        )
    page.cookies.append(edge.expired(edge.session_cookie))
    page.binding, page.logged_in = None, False
    return page.render(
        "message.html",
        title=page._("Vous êtes déconnecté(e)"),
        lines=[page._("À bientôt.")],
        links=[("/connexion", page._("Se reconnecter"))],
    )


# ---------------------------------------------------------------- activation


def _activation_form(
    page: Page, status: int = 200, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> Response[str]:
    page.pre_session()
    v, e = values or {}, errors or {}
    return page.render(
        "form.html",
        status,
        title=page._("Activer mon espace DMP"),
        action="/activation",
        submit=page._("Continuer"),
        intro=page._("Munissez-vous du courrier remis à l'ouverture de votre dossier et de votre carte Vitale."),
        fields=[
            _field(
                "code",
                page._("Code d'activation provisoire"),
                value=v.get("code", ""),
                error=e.get("code"),
                hint=page._("12 caractères, par exemple ABCD-EFGH-JKMN. Il est valable 6 semaines."),
                autocomplete="off",
            ),
            _field(
                "nir",
                page._("Numéro de sécurité sociale (15 chiffres)"),
                value=v.get("nir", ""),
                error=e.get("nir"),
                inputmode="numeric",
                autocomplete="off",
            ),
            _field(
                "date_naissance",
                page._("Date de naissance"),
                "date",
                value=v.get("date_naissance", ""),
                error=e.get("date_naissance"),
                autocomplete="bday",
                hint=page._("Ou, à la place, le numéro de série de votre carte Vitale ci-dessous."),
            ),
            _field(
                "numero_carte",
                page._("Numéro de série de la carte Vitale (facultatif)"),
                value=v.get("numero_carte", ""),
                autocomplete="off",
            ),
        ],
        links=[("/connexion", page._("J'ai déjà activé mon espace : me connecter"))],
        extra_forms=[],
    )


@get("/activation", include_in_schema=False)
@threaded
def activation_page(request: Request[Any, Any, Any]) -> Response[str]:
    return _activation_form(Page(edge_of(request), request))


@post("/activation", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def activation_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    page.pre_session()
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    if (limited := _limited(page, "activation")) is not None:
        return limited
    born, serial = _date(data, "date_naissance"), _text(data, "numero_carte") or None
    if born is None and serial is None:
        return _activation_form(
            page,
            400,
            data,
            {"date_naissance": page._("Indiquez votre date de naissance (ou le numéro de votre carte).")},
        )
    now = edge.runtime.clock.now()

    def work(db: Session) -> Response[str]:
        account = patients.begin_activation(
            db,
            _text(data, "code"),
            _text(data, "nir"),
            now,
            edge.secrets,
            birth_date=born,
            card_serial=serial,
            source_address=address_of(request),
        )
        _rotate(page, db, patients.holder_actor(db, account), SessionStage.ACTIVATING, account.id)
        return page.redirect("/activation/mot-de-passe")

    return _run(page, work, lambda error: _activation_form(page, _status_of(error), data, {"code": error.message}))


def _password_form(page: Page, status: int = 200, error: str | None = None) -> Response[str]:
    return page.render(
        "form.html",
        status,
        title=page._("Choisir mon mot de passe"),
        action="/activation/mot-de-passe",
        submit=page._("Continuer"),
        intro=page._(
            "Au moins {n} caractères. Une phrase de plusieurs mots est facile à retenir.", n=patients.PASSWORD_MIN
        ),
        fields=[
            _field(
                "mot_de_passe", page._("Nouveau mot de passe"), "password", autocomplete="new-password", error=error
            ),
            _field("confirmation", page._("Confirmez le mot de passe"), "password", autocomplete="new-password"),
        ],
        links=[],
        extra_forms=[],
    )


@get("/activation/mot-de-passe", include_in_schema=False)
@threaded
def activation_password_page(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(edge_of(request), request)
    found = _current(page, SessionStage.ACTIVATING)
    return found if isinstance(found, Response) else _password_form(page)


@post("/activation/mot-de-passe", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def activation_password_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.ACTIVATING, data)
    if isinstance(found, Response):
        return found
    password = str(data.get("mot_de_passe") or "")
    if password != str(data.get("confirmation") or ""):
        return _password_form(page, 400, page._("Les deux mots de passe ne sont pas identiques."))
    account_id = found[1].account_id
    assert account_id is not None

    def work(db: Session) -> Response[str]:
        patients.set_password(db, account_id, password, edge.runtime.clock.now(), edge.secrets)
        return page.redirect("/activation/contact")

    return _run(page, work, lambda error: _password_form(page, 400, error.message))


def _contact_form(
    page: Page, status: int = 200, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> Response[str]:
    v, e = values or {}, errors or {}
    return page.render(
        "form.html",
        status,
        title=page._("Mon téléphone ou mon courriel"),
        action="/activation/contact",
        submit=page._("Recevoir un code"),
        intro=page._("Vous y recevrez un code à chaque connexion."),
        fields=[
            _field(
                "canal",
                page._("Recevoir les codes par"),
                "radio",
                value=v.get("canal", "sms"),
                error=e.get("canal"),
                options=[("sms", page._("SMS")), ("email", page._("Courriel"))],
            ),
            _field(
                "adresse",
                page._("Numéro de téléphone portable ou adresse de courriel"),
                value=v.get("adresse", ""),
                error=e.get("adresse"),
                autocomplete="on",
            ),
        ],
        links=[],
        extra_forms=[],
    )


@get("/activation/contact", include_in_schema=False)
@threaded
def activation_contact_page(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(edge_of(request), request)
    found = _current(page, SessionStage.ACTIVATING)
    return found if isinstance(found, Response) else _contact_form(page)


@post("/activation/contact", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def activation_contact_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.ACTIVATING, data)
    if isinstance(found, Response):
        return found
    if (limited := _limited(page, "contact-code")) is not None:
        return limited
    account_id = found[1].account_id
    assert account_id is not None
    try:
        channel = SecondFactor(_text(data, "canal"))
    except ValueError:
        return _contact_form(page, 400, data, {"canal": page._("Choisissez SMS ou courriel.")})

    def work(db: Session) -> Response[str]:
        patients.send_contact_code(
            db, account_id, channel, _text(data, "adresse"), edge.runtime.clock.now(), edge.secrets
        )
        return page.redirect("/activation/verification")

    def refused(error: DomainError) -> Response[str]:
        invalid = isinstance(error, InvalidInput)
        message = page._("Ce numéro ou cette adresse n'est pas valable.") if invalid else error.message
        return _contact_form(page, 400, data, {"adresse": message})

    return _run(page, work, refused)


def _verification_form(page: Page, status: int = 200, error: str | None = None) -> Response[str]:
    return page.render(
        "form.html",
        status,
        title=page._("Vérifier mon téléphone ou mon courriel"),
        action="/activation/verification",
        submit=page._("Activer mon espace"),
        intro=page._("Saisissez le code à 6 chiffres que nous venons de vous envoyer."),
        fields=[
            _field("code", page._("Code à 6 chiffres"), autocomplete="one-time-code", inputmode="numeric", error=error)
        ],
        links=[("/activation/contact", page._("Changer de numéro ou d'adresse"))],
        extra_forms=[],
    )


@get("/activation/verification", include_in_schema=False)
@threaded
def activation_verification_page(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(edge_of(request), request)
    found = _current(page, SessionStage.ACTIVATING)
    return found if isinstance(found, Response) else _verification_form(page)


@post("/activation/verification", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def activation_verification_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.ACTIVATING, data)
    if isinstance(found, Response):
        return found
    token, current = found
    assert current.account_id is not None
    account_id = current.account_id

    def work(db: Session) -> Response[str]:
        now = edge.runtime.clock.now()
        account = patients.confirm_contact(db, account_id, _text(data, "code"), now, edge.secrets, address_of(request))
        login_sessions.revoke(db, token, now, "activated")
        page.cookies.append(edge.expired(edge.session_cookie))
        page.cookies.append(edge.cookie(edge.remember_cookie, account.login_id, REMEMBER_MAX_AGE))
        page.binding = None
        return page.render(
            "message.html",
            title=page._("Votre espace DMP est activé"),
            lines=[
                page._(
                    "Votre identifiant : {login}. Il est retenu sur cet appareil.", login=group(account.login_id, 5)
                ),
                page._("Connectez-vous avec votre identifiant, votre mot de passe et le code reçu à chaque connexion."),
            ],
            links=[("/connexion", page._("Se connecter"))],
        )

    return _run(page, work, lambda error: _verification_form(page, _status_of(error), error.message))


# ---------------------------------------------------------------- password change and recovery


def _change_form(
    page: Page, status: int = 200, errors: dict[str, str] | None = None, notice: str | None = None
) -> Response[str]:
    e = errors or {}
    return page.render(
        "form.html",
        status,
        title=page._("Changer mon mot de passe"),
        action="/mon-compte/mot-de-passe",
        submit=page._("Changer"),
        notice=notice,
        intro=page._("Vos autres sessions ouvertes seront fermées."),
        fields=[
            _field(
                "actuel",
                page._("Mot de passe actuel"),
                "password",
                autocomplete="current-password",
                error=e.get("actuel"),
            ),
            _field(
                "nouveau",
                page._("Nouveau mot de passe"),
                "password",
                autocomplete="new-password",
                error=e.get("nouveau"),
            ),
        ],
        links=[],
        extra_forms=[],
    )


@get("/mon-compte/mot-de-passe", include_in_schema=False)
@threaded
def change_password_page(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(edge_of(request), request)
    found = _current(page, SessionStage.AUTHENTICATED)
    return found if isinstance(found, Response) else _change_form(page)


@post("/mon-compte/mot-de-passe", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def change_password_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    token, current = found
    assert current.account_id is not None
    account_id = current.account_id

    def work(db: Session) -> Response[str]:
        patients.change_password(
            db,
            account_id,
            str(data.get("actuel") or ""),
            str(data.get("nouveau") or ""),
            edge.runtime.clock.now(),
            edge.secrets,
            keep_session=token,
            source_address=address_of(request),
            subject=current.subject,
        )
        return _change_form(page, notice=page._("Votre mot de passe a été changé ; vos autres sessions sont fermées."))

    def refused(error: DomainError) -> Response[str]:
        where = "actuel" if isinstance(error, patients.LoginRefused) else "nouveau"
        return _change_form(page, _status_of(error), {where: error.message})

    return _run(page, work, refused)


@get("/identifiant-oublie", include_in_schema=False)
@threaded
def lost_identifier_page(request: Request[Any, Any, Any]) -> Response[str]:
    return _lost_identifier_form(Page(edge_of(request), request))


def _lost_identifier_form(
    page: Page, status: int = 200, notice: str | None = None, errors: dict[str, str] | None = None
) -> Response[str]:
    page.pre_session()
    e = errors or {}
    return page.render(
        "form.html",
        status,
        title=page._("Identifiant oublié"),
        action="/identifiant-oublie",
        submit=page._("Recevoir mon identifiant"),
        notice=notice,
        intro=page._("Nous l'envoyons au téléphone ou au courriel vérifié de votre espace."),
        fields=[
            _field("nir", page._("Numéro de sécurité sociale (15 chiffres)"), inputmode="numeric", error=e.get("nir")),
            _field("date_naissance", page._("Date de naissance"), "date", error=e.get("date_naissance")),
        ],
        links=[("/connexion", page._("Se connecter"))],
        extra_forms=[],
    )


@post("/identifiant-oublie", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def lost_identifier_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    page.pre_session()
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    if (limited := _limited(page, "recovery")) is not None:
        return limited
    born = _date(data, "date_naissance")
    if born is None:
        return _lost_identifier_form(page, 400, errors={"date_naissance": page._("Indiquez votre date de naissance.")})

    def work(db: Session) -> Response[str]:
        patients.recover_identifier(
            db, _text(data, "nir"), born, edge.runtime.clock.now(), edge.secrets, address_of(request)
        )
        return _lost_identifier_form(
            page,
            notice=page._(
                "Si ces informations correspondent à un espace activé, votre identifiant vient de vous être envoyé."
            ),
        )

    return _run(page, work, lambda error: _lost_identifier_form(page, 400, errors={"nir": error.message}))


def _lost_password_form(page: Page, status: int = 200) -> Response[str]:
    page.pre_session()
    return page.render(
        "form.html",
        status,
        title=page._("Mot de passe oublié"),
        action="/mot-de-passe-oublie",
        submit=page._("Recevoir un code"),
        intro=page._(
            "Nous envoyons un code au téléphone ou au courriel vérifié de votre espace. Sans accès à ceux-ci, adressez-vous à un guichet de l'Assurance Maladie avec votre carte Vitale."  # noqa: E501 - one literal: the English catalogue is keyed by it
        ),
        fields=[_field("identifiant", page._("Identifiant"), autocomplete="username")],
        links=[("/identifiant-oublie", page._("Identifiant oublié"))],
        extra_forms=[],
    )


@get("/mot-de-passe-oublie", include_in_schema=False)
@threaded
def lost_password_page(request: Request[Any, Any, Any]) -> Response[str]:
    return _lost_password_form(Page(edge_of(request), request))


@post("/mot-de-passe-oublie", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def lost_password_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    page.pre_session()
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    if (limited := _limited(page, "recovery")) is not None:
        return limited

    def work(db: Session) -> Response[str]:
        now = edge.runtime.clock.now()
        typed = _text(data, "identifiant")
        account_id = patients.start_password_recovery(db, typed, now, edge.secrets, address_of(request))
        # Known or not, the same next step: a recovering session whose codes count against the
        # identifier as typed (without an account, every code fails alike and backs off alike).
        subject = patients.recovery_subject(edge.secrets, typed)
        _rotate(page, db, patients.anonymous(address_of(request)), SessionStage.RECOVERING, account_id, subject)
        return page.redirect("/mot-de-passe-oublie/code")

    return _run(page, work, lambda error: _lost_password_form(page, 400))


def _recovery_form(page: Page, status: int = 200, errors: dict[str, str] | None = None) -> Response[str]:
    e = errors or {}
    return page.render(
        "form.html",
        status,
        title=page._("Nouveau mot de passe"),
        action="/mot-de-passe-oublie/code",
        submit=page._("Valider"),
        intro=page._("Si l'identifiant correspond à un espace activé, un code vient d'être envoyé."),
        fields=[
            _field(
                "code",
                page._("Code à 6 chiffres"),
                autocomplete="one-time-code",
                inputmode="numeric",
                error=e.get("code"),
            ),
            _field(
                "nouveau",
                page._("Nouveau mot de passe"),
                "password",
                autocomplete="new-password",
                error=e.get("nouveau"),
            ),
        ],
        links=[],
        extra_forms=[],
    )


@get("/mot-de-passe-oublie/code", include_in_schema=False)
@threaded
def recovery_code_page(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(edge_of(request), request)
    found = _current(page, SessionStage.RECOVERING)
    return found if isinstance(found, Response) else _recovery_form(page)


@post("/mot-de-passe-oublie/code", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def recovery_code_submit(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    edge = edge_of(request)
    page = Page(edge, request)
    found = _posted(page, SessionStage.RECOVERING, data)
    if isinstance(found, Response):
        return found
    if (limited := _limited(page, "recovery")) is not None:
        return limited
    _, current = found
    account_id, subject = current.account_id, current.subject

    def work(db: Session) -> Response[str]:
        now = edge.runtime.clock.now()
        patients.complete_password_recovery(
            db,
            account_id,
            _text(data, "code"),
            str(data.get("nouveau") or ""),
            now,
            edge.secrets,
            address_of(request),
            subject=subject,
        )
        page.cookies.append(edge.expired(edge.session_cookie))
        page.binding = None
        return page.render(
            "message.html",
            title=page._("Mot de passe changé"),
            lines=[page._("Votre mot de passe a été changé et vos sessions ouvertes ont été fermées.")],
            links=[("/connexion", page._("Se connecter"))],
        )

    def refused(error: DomainError) -> Response[str]:
        where = "code" if isinstance(error, patients.CodeRefused) else "nouveau"
        return _recovery_form(page, _status_of(error), {where: error.message})

    return _run(page, work, refused)


ROUTES = [
    login_page,
    login_submit,
    forget_identifier,
    code_page,
    code_submit,
    code_resend,
    logout,
    activation_page,
    activation_submit,
    activation_password_page,
    activation_password_submit,
    activation_contact_page,
    activation_contact_submit,
    activation_verification_page,
    activation_verification_submit,
    change_password_page,
    change_password_submit,
    lost_identifier_page,
    lost_identifier_submit,
    lost_password_page,
    lost_password_submit,
    recovery_code_page,
    recovery_code_submit,
]
