"""OpenID Connect relying party: professionals through Pro Santé Connect (or any OIDC provider),
counter agents and operators through the same or a second provider.

Authorization code flow with PKCE (S256), `state` and `nonce` (OpenID Connect Core 1.0 §3.1,
RFC 7636). The provider is found by discovery (`/.well-known/openid-configuration`, whose
`issuer` must equal the configured one, Discovery §4.3). The ID token is checked here with
joserfc: signature by a key of the provider's JWKS (asymmetric algorithms only), `iss`, `aud`
(and `azp` when several audiences), `exp`, `iat`, `nonce`. Who logs in is then decided by our
own tables: the directory for professionals (national identifier `8` + RPPS in the configured
claim), `staff_account` for counter agents and operators (the provider's `sub`).

docs/decisions/0017-openid-connect.md says why each choice."""

from __future__ import annotations

import base64
import hmac
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.auth.hashing import Random, session_digest
from opendmp.auth.oauth import UNIDENTIFIED
from opendmp.auth.staff_models import PendingLogin, StaffAccount, StaffRole, StaffStatus
from opendmp.config import Settings
from opendmp.identity.actor import Actor
from opendmp.identity.models import Organisation, Professional, ProfessionalActivity
from opendmp.identity.service import rpps_from_national_id
from opendmp.journal import service as journal
from opendmp.kit.errors import DomainError, ErrorKind, InvalidInput

PROFESSIONAL = "professional"  # the provider (and the intent) of professionals' logins
STAFF = "staff"  # counter agents and operators
CALLBACK_PATH = "/connexion/pro/retour"
# ID tokens signed with these only: never "none" nor a MAC keyed with the client secret (HS*),
# and Ed25519 under its RFC 9864 name ("EdDSA" is deprecated there).
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "Ed25519")
CLOCK_SKEW = 60  # seconds allowed on exp and iat
DISCOVERY_TTL = 3600.0  # a provider's metadata and keys are read again after an hour


class LoginFailed(DomainError):
    """A login through the provider that did not succeed. `reason` is a fixed code for the journal;
    the refusal is journaled (keep_journal: the consumed state and the entry commit together)."""

    kind = ErrorKind.UNAUTHENTICATED
    keep_journal = True

    def __init__(self, message: str, *, reason: str, target: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.target = target  # a verified identifier worth tracing (an RPPS the directory lacks)


class FlowRefused(LoginFailed):
    """The callback does not continue a login this browser started (state unknown, expired, used,
    or from another browser)."""

    kind = ErrorKind.INVALID


class IdentityRefused(LoginFailed):
    """The provider vouched for someone we do not let in: an RPPS unknown to the directory, a `sub`
    without an active staff account."""

    kind = ErrorKind.FORBIDDEN


class ProviderUnavailable(DomainError):
    """The provider is not configured, or did not answer its discovery or keys properly."""

    kind = ErrorKind.BUSINESS_RULE


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str
    redirect_uri: str
    timeout: float


def provider_configs(settings: Settings) -> dict[str, ProviderConfig]:
    """The configured providers by intent. Staff use their own provider when oidc_staff_issuer is
    set, else the professionals' one (their role comes from staff_account either way)."""
    redirect = settings.oidc_redirect_uri or settings.public_base_url.rstrip("/") + CALLBACK_PATH
    found: dict[str, ProviderConfig] = {}
    if settings.oidc_issuer and settings.oidc_client_id:
        secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        found[PROFESSIONAL] = ProviderConfig(
            PROFESSIONAL,
            settings.oidc_issuer,
            settings.oidc_client_id,
            secret,
            settings.oidc_scopes,
            redirect,
            settings.oidc_timeout_seconds,
        )
    if settings.oidc_staff_issuer and settings.oidc_staff_client_id:
        secret = settings.oidc_staff_client_secret.get_secret_value() if settings.oidc_staff_client_secret else None
        found[STAFF] = ProviderConfig(
            STAFF,
            settings.oidc_staff_issuer,
            settings.oidc_staff_client_id,
            secret,
            settings.oidc_staff_scopes,
            redirect,
            settings.oidc_timeout_seconds,
        )
    elif PROFESSIONAL in found:
        found[STAFF] = found[PROFESSIONAL]
    return found


# ---------------------------------------------------------------- the relying party


@dataclass(frozen=True, slots=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    algorithms: tuple[str, ...]


class RelyingParty:
    """One provider: its discovery and keys (cached), the authorization request, the code exchange
    and the ID token check. Thread-safe: the handlers run in worker threads."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._discovery: tuple[float, Discovery] | None = None
        self._keys: tuple[float, KeySet] | None = None

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            answer = httpx.get(url, timeout=self.config.timeout, follow_redirects=False)
            answer.raise_for_status()
            data = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise ProviderUnavailable(f"the identity provider did not answer ({type(error).__name__})") from error
        if not isinstance(data, dict):
            raise ProviderUnavailable("the identity provider answered something else than a JSON object")
        return data

    def discovery(self) -> Discovery:
        with self._lock:
            if self._discovery is not None and time.monotonic() - self._discovery[0] < DISCOVERY_TTL:
                return self._discovery[1]
        issuer = self.config.issuer
        data = self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if data.get("issuer") != issuer:
            # Discovery §4.3: a document naming another issuer is not this provider's.
            raise ProviderUnavailable("the provider's discovery document names another issuer")
        endpoints = [data.get(k) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
        if not all(isinstance(e, str) and e for e in endpoints):
            raise ProviderUnavailable("the provider's discovery document lacks an endpoint")
        offered = data.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in ID_TOKEN_ALGORITHMS if a in offered)
        if not algorithms:
            raise ProviderUnavailable("the provider signs ID tokens with no algorithm accepted here")
        end_session = data.get("end_session_endpoint")
        found = Discovery(
            issuer,
            str(endpoints[0]),
            str(endpoints[1]),
            str(endpoints[2]),
            end_session if isinstance(end_session, str) and end_session else None,
            algorithms,
        )
        with self._lock:
            self._discovery = (time.monotonic(), found)
        return found

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys
        if cached is not None and not refresh and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
        data = self._get_json(self.discovery().jwks_uri)
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as error:
            raise ProviderUnavailable("the provider's JWKS cannot be read") from error
        with self._lock:
            self._keys = (time.monotonic(), keys)
        return keys

    def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        return str(
            prepare_grant_uri(
                self.discovery().authorization_endpoint,
                client_id=self.config.client_id,
                response_type="code",
                redirect_uri=self.config.redirect_uri,
                scope=self.config.scopes,
                state=state,
                nonce=nonce,
                code_challenge=create_s256_code_challenge(code_verifier),
                code_challenge_method="S256",
            )
        )

    def redeem(self, code: str, code_verifier: str) -> str:
        """The ID token the token endpoint gives for this code (sent with the PKCE verifier),
        the client authenticated with client_secret_basic (RFC 6749 §2.3.1: each part
        form-encoded before base64) or, without a secret, as a public client."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "code_verifier": code_verifier,
        }
        headers = {"Accept": "application/json"}
        if self.config.client_secret is None:
            form["client_id"] = self.config.client_id
        else:
            pair = f"{quote(self.config.client_id, safe='')}:{quote(self.config.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        endpoint = self.discovery().token_endpoint
        try:
            answer = httpx.post(endpoint, data=form, headers=headers, timeout=self.config.timeout)
            token = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as error:
            raise LoginFailed("the provider's token endpoint failed", reason="token-endpoint-error") from error
        if not isinstance(token, dict):
            raise LoginFailed("the provider refused the authorization code", reason="code-refused")
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise LoginFailed("the provider gave no ID token", reason="no-id-token")
        return id_token

    def verify_id_token(self, id_token: str, nonce: str, now: datetime) -> dict[str, Any]:
        algorithms = list(self.discovery().algorithms)
        try:
            try:
                decoded = jwt.decode(id_token, self._key_set(), algorithms=algorithms)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, self._key_set(refresh=True), algorithms=algorithms)  # key rotation
            registry = jwt.JWTClaimsRegistry(
                now=int(now.timestamp()),
                leeway=CLOCK_SKEW,
                iss={"essential": True, "value": self.config.issuer},
                aud={"essential": True, "value": self.config.client_id},
                exp={"essential": True},
                iat={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as error:
            raise LoginFailed("the ID token is not valid", reason=_why(error)) from error
        claims = dict(decoded.claims)
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.config.client_id:
            raise LoginFailed("the ID token was issued to another party", reason="id-token-azp")
        return claims

    def end_session_url(self, post_logout_redirect_uri: str) -> str | None:
        """RP-initiated logout 1.0, when the provider offers it. With client_id rather than
        id_token_hint: ID tokens are not kept after login."""
        try:
            endpoint = self.discovery().end_session_endpoint
        except ProviderUnavailable:
            return None
        if endpoint is None:
            return None
        query = urlencode({"client_id": self.config.client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def _why(error: Exception) -> str:
    """A fixed reason code for the journal: which check of the ID token failed."""
    text = str(error).lower()
    for claim in ("iss", "aud", "nonce", "exp", "iat", "sub"):
        if f"'{claim}'" in text or f'"{claim}"' in text:
            return f"id-token-{claim}"
    name = type(error).__name__
    if name == "ExpiredTokenError":
        return "id-token-exp"
    if name in ("BadSignatureError", "InvalidKeyIdError"):
        return "id-token-signature"
    if name == "UnsupportedAlgorithmError":
        return "id-token-algorithm"
    return "id-token-invalid"


# ---------------------------------------------------------------- the login, step by step


@dataclass(frozen=True, slots=True)
class LoggedIn:
    actor: Actor
    staff_account_id: uuid.UUID | None


def begin_login(
    session: Session,
    rp: RelyingParty,
    intent: str,
    browser: str,
    now: datetime,
    step: timedelta,
    random: Random,
) -> str:
    """Record a pending login and return the provider's authorization URL to send the browser to.
    `browser` is a keyed digest of the pre-session cookie: the callback must come back to it."""
    state, nonce, verifier = random.token(32), random.token(32), random.token(48)  # verifier: 64 chars
    session.add(
        PendingLogin(
            state_digest=session_digest(state),
            provider=intent,
            browser=browser,
            nonce=nonce,
            code_verifier=verifier,
            created_at=now,
            expires_at=now + step,
        )
    )
    session.flush()
    return rp.authorization_url(state, nonce, verifier)


def take_pending(session: Session, state: str | None, browser: str, now: datetime) -> PendingLogin:
    """The login this callback continues, deleted at once (a state works once)."""
    row = session.get(PendingLogin, session_digest(state)) if state else None
    if row is None:
        raise FlowRefused("this login was not started here, or is already over", reason="state-unknown")
    session.delete(row)
    session.flush()
    if row.expires_at <= now:
        raise FlowRefused("this login took too long", reason="state-expired")
    if not hmac.compare_digest(row.browser, browser):
        raise FlowRefused("this login was started in another browser", reason="browser-mismatch")
    return row


def has_role(claims: dict[str, Any], role: tuple[str, str] | None) -> bool:
    """Whether the ID token's claim `role[0]` (a list, or a space-separated string) holds `role[1]`."""
    if role is None or not role[0]:
        return False
    held = claims.get(role[0])
    values = held.split() if isinstance(held, str) else held if isinstance(held, list) else []
    return role[1] in values


def professional_actor(
    session: Session, claims: dict[str, Any], claim_name: str, samu_role: tuple[str, str] | None = None
) -> Actor:
    """The professional the ID token names (`8` + RPPS in `claim_name`), as the directory knows
    them: profession, display name, and the organisation of their first activity (by FINESS);
    a SAMU regulator when the token carries `samu_role` (claim name, value)."""
    national_id = claims.get(claim_name)
    try:
        rpps = rpps_from_national_id(national_id if isinstance(national_id, str) else "")
    except InvalidInput as error:
        raise IdentityRefused(
            "the provider gave no professional national identifier", reason="no-national-id"
        ) from error
    professional = session.execute(select(Professional).where(Professional.rpps == rpps)).scalar_one_or_none()
    if professional is None:
        raise IdentityRefused("this professional is not in the directory", reason="unknown-rpps", target=rpps)
    finess = session.execute(
        select(Organisation.finess)
        .join(ProfessionalActivity, ProfessionalActivity.organisation_id == Organisation.id)
        .where(ProfessionalActivity.professional_id == professional.id)
        .order_by(Organisation.finess)
        .limit(1)
    ).scalar_one_or_none()
    return Actor.professional(
        rpps,
        professional.profession,
        finess,
        display_name=f"{professional.given} {professional.family}",
        samu_regulator=has_role(claims, samu_role),
    )


def staff_actor(session: Session, issuer: str, subject: str) -> tuple[Actor, uuid.UUID]:
    account = session.execute(
        select(StaffAccount).where(StaffAccount.issuer == issuer, StaffAccount.subject == subject)
    ).scalar_one_or_none()
    if account is None:
        raise IdentityRefused("no staff account for this identity", reason="unknown-subject")
    if account.status != StaffStatus.ACTIVE.value:
        raise IdentityRefused("this staff account is disabled", reason="account-disabled")
    if account.role == StaffRole.OPERATOR.value:
        return Actor.operator(account.name), account.id
    return Actor.counter_agent(account.name, account.organisation), account.id


def identify(
    session: Session,
    intent: str,
    rp: RelyingParty,
    claims: dict[str, Any],
    claim_name: str,
    samu_role: tuple[str, str] | None = None,
) -> LoggedIn:
    if intent == PROFESSIONAL:
        return LoggedIn(professional_actor(session, claims, claim_name, samu_role), None)
    actor, account_id = staff_actor(session, rp.config.issuer, str(claims["sub"]))
    return LoggedIn(actor, account_id)


def journal_login(session: Session, who: LoggedIn, source_address: str | None, now: datetime) -> None:
    target = ("staff-account", str(who.staff_account_id)) if who.staff_account_id else ("professional", who.actor.id)
    event = journal.Event("auth:login", *target)
    journal.append(session, who.actor.at(source_address), event, record_id=None, at=now)


def journal_refusal(
    session: Session, error: LoginFailed, intent: str | None, source_address: str | None, now: datetime
) -> None:
    """On the system chain, as the unidentified caller: an unverified identity names no one. The
    reason says which check failed; no code, state, token or claim value is written."""
    journal.append(
        session,
        UNIDENTIFIED.at(source_address),
        journal.Event(
            "auth:login",
            f"oidc-{intent or 'unknown'}",
            error.target,
            outcome=journal.Outcome.FAILURE,
            reason=error.reason,
        ),
        record_id=None,
        at=now,
    )
