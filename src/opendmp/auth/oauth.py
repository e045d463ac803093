"""The OAuth2 token endpoint's rules: client credentials with `private_key_jwt` (RFC 6749 §4.4,
RFC 7521, RFC 7523), for software acting for one professional of its organisation.

The request names the professional with `act_for=8<RPPS>` (the national identifier idNat_PS);
they must work in the client's organisation (the directory's activity lines). The access token
is the platform's own compact JWS (auth/tokens.py), at most 15 minutes, carrying the actor.

Token times (assertions and access tokens) are wall-clock seconds, as for every JWT and for the
verifier; the journal keeps its own injected clock. Neither the assertion nor the token is ever
logged or journaled: refusals are journaled with a fixed reason code (docs/decisions/0015).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from opendmp.auth.clients import ASSERTION_ALGORITHMS, get_client, parse_scopes
from opendmp.auth.models import ClientAssertionJti, ClientStatus
from opendmp.auth.tokens import issue_token
from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.models import Organisation, Professional, ProfessionalActivity
from opendmp.journal import service as journal
from opendmp.kit.errors import InvalidInput
from opendmp.kit.keys import Keys

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a secret
GRANT_TYPE = "client_credentials"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ACCESS_TOKEN_TTL = 15 * 60
MAX_ASSERTION_LIFETIME = 5 * 60
CLOCK_SKEW = 30  # seconds of leeway on exp, nbf and iat between the client's clock and ours
MAX_ASSERTION_CHARS = 8 * 1024
MAX_JTI_CHARS = 200
NATIONAL_ID = re.compile("8[0-9]{11}")  # idNat_PS: 8 + RPPS
PARAMETERS = ("grant_type", "client_assertion_type", "client_assertion", "client_id", "scope", "act_for")

# Who the journal names when the caller could not be identified: the platform's authenticator,
# with the caller's address (no unverified claim is ever written down as an identity).
UNIDENTIFIED = Actor.system("auth:unidentified-caller")


class OAuthError(Exception):
    """A refusal in RFC 6749 §5.2 terms: `error` and `status` for the answer, `reason` (a fixed
    code) and `actor` (when identified) for the journal."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        reason: str,
        actor: Actor | None = None,
        professional: str | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.reason = reason
        self.actor = actor
        self.professional = professional


def _invalid_client(reason: str, description: str, actor: Actor | None = None) -> OAuthError:
    # RFC 6749 §5.2 and RFC 7521 §4.2.1: a failed client authentication is invalid_client, 401.
    return OAuthError("invalid_client", description, status=401, reason=reason, actor=actor)


@dataclass(frozen=True, slots=True)
class Grant:
    access_token: str
    expires_in: int
    scope: str
    actor: Actor


def token_endpoint(public_base_url: str) -> str:
    """The `aud` a client assertion must carry: the endpoint's public URL (RFC 7523 §3, item 3)."""
    return public_base_url.rstrip("/") + TOKEN_PATH


def grant_client_credentials(
    session: Session,
    keys: Keys,
    form: Mapping[str, list[str]],
    *,
    audience: str,
    now: float,
    at: datetime,
    source_address: str | None,
) -> Grant:
    """Check the request, issue the token and journal it on the system chain; a refusal is
    journaled too (in the same transaction, so the used assertion's jti stays recorded) and
    raised as OAuthError."""
    try:
        grant = _grant(session, keys, form, audience=audience, now=now)
    except OAuthError as error:
        actor = (error.actor or UNIDENTIFIED).at(source_address)
        _journal(session, actor, error.professional, journal.Outcome.DENIED, error.reason, at)
        raise
    actor = grant.actor.at(source_address)
    _journal(session, actor, actor.on_behalf_of, journal.Outcome.SUCCESS, f"scope={grant.scope}", at)
    return grant


def _journal(
    session: Session, actor: Actor, rpps: str | None, outcome: journal.Outcome, reason: str, at: datetime
) -> None:
    event = journal.Event(
        "auth:token", "professional" if rpps else "platform", rpps, outcome=outcome, reason=reason, purpose=None
    )
    journal.append(session, actor, event, record_id=None, at=at)


def _single(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    if not values:
        return None
    if len(values) > 1:  # RFC 6749 §3.2: parameters MUST NOT be included more than once
        raise OAuthError("invalid_request", f"{name} is given more than once", reason="repeated-parameter")
    return values[0]


def _grant(session: Session, keys: Keys, form: Mapping[str, list[str]], *, audience: str, now: float) -> Grant:
    values = {name: _single(form, name) for name in PARAMETERS}
    if values["grant_type"] is None:
        raise OAuthError("invalid_request", "grant_type is required", reason="no-grant-type")
    if values["grant_type"] != GRANT_TYPE:
        raise OAuthError(
            "unsupported_grant_type", f"only {GRANT_TYPE} is supported here", reason="unsupported-grant-type"
        )
    assertion = values["client_assertion"]
    if values["client_assertion_type"] != CLIENT_ASSERTION_TYPE or not assertion:
        raise _invalid_client(
            "no-client-assertion",
            f"authenticate with client_assertion_type={CLIENT_ASSERTION_TYPE} and a client_assertion",
        )
    client_actor, scopes_allowed, key_set, organisation = _client_of(session, assertion, values["client_id"])
    claims = _verified_claims(assertion, key_set, client_actor, audience=audience, now=now)
    _consume(session, client_actor, claims, now)
    scopes = _requested_scopes(values["scope"], scopes_allowed, client_actor)
    rpps, profession = _professional(session, values["act_for"], organisation, client_actor)
    actor = Actor.software(client_actor.id, organisation, rpps, profession, scopes=scopes)
    token = issue_token(keys, actor, dev=False, ttl=ACCESS_TOKEN_TTL, now=now)
    return Grant(token, ACCESS_TOKEN_TTL, " ".join(sorted(scopes)), actor)


def _client_of(session: Session, assertion: str, client_id: str | None) -> tuple[Actor, frozenset[str], KeySet, str]:
    """The registered client the assertion claims to come from (its `iss`, read before the
    signature is checked, only to find which keys check it)."""
    if len(assertion) > MAX_ASSERTION_CHARS or assertion.count(".") != 2:
        raise _invalid_client("malformed-assertion", "the client assertion is not a compact JWS")
    try:
        unverified = jws.extract_compact(assertion.encode("ascii"))
        header = unverified.headers()
        payload = json.loads(unverified.payload or b"")
    except (JoseError, ValueError, UnicodeError, RecursionError) as error:
        raise _invalid_client("malformed-assertion", "the client assertion is not a compact JWS") from error
    if header.get("alg") not in ASSERTION_ALGORITHMS:
        # "none" and symmetric algorithms never authenticate a client.
        raise _invalid_client(
            "assertion-algorithm", f"sign the assertion with one of {', '.join(ASSERTION_ALGORITHMS)}"
        )
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    found = get_client(session, issuer) if isinstance(issuer, str) else None
    if found is None:
        raise _invalid_client("unknown-client", "unknown client")
    client, finess = found
    actor = Actor(ActorKind.SOFTWARE, str(client.id), organisation=finess)
    if client_id is not None and client_id != actor.id:
        raise _invalid_client("client-id-mismatch", "client_id differs from the assertion's issuer", actor)
    if client.status != ClientStatus.ACTIVE:
        raise _invalid_client("client-revoked", "this client has been revoked", actor)
    return actor, frozenset(client.scopes.split()), KeySet.import_key_set(json.loads(client.jwks)), finess


def _verified_claims(assertion: str, key_set: KeySet, client: Actor, *, audience: str, now: float) -> dict[str, object]:
    try:
        token = jwt.decode(assertion, key_set, algorithms=list(ASSERTION_ALGORITHMS))
    except (JoseError, ValueError, RecursionError) as error:
        raise _invalid_client(
            "assertion-signature", "the client assertion's signature does not verify", client
        ) from error
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        now=int(now),
        leeway=CLOCK_SKEW,
        iss={"essential": True, "value": client.id},
        sub={"essential": True, "value": client.id},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as error:
        raise _invalid_client("assertion-expired", "the client assertion has expired", client) from error
    except (JoseError, ValueError) as error:
        raise _invalid_client(
            "assertion-claims", f"iss and sub must be the client id, aud {audience}, with exp and jti", client
        ) from error
    exp = claims["exp"]
    iat = claims.get("iat")
    assert isinstance(exp, int | float)  # checked by the registry
    too_long = exp - now > MAX_ASSERTION_LIFETIME + CLOCK_SKEW or (
        isinstance(iat, int | float) and exp - iat > MAX_ASSERTION_LIFETIME
    )
    if too_long:
        raise _invalid_client("assertion-lifetime", "a client assertion lives 5 minutes at most", client)
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
        raise _invalid_client("assertion-claims", f"jti is a string of at most {MAX_JTI_CHARS} characters", client)
    return claims


def _consume(session: Session, client: Actor, claims: Mapping[str, object], now: float) -> None:
    """Record the assertion's jti until it expires; a second use finds it (RFC 7523 §3, item 7).
    One atomic insert-if-absent, so two concurrent uses cannot both pass."""
    client_id = uuid.UUID(client.id)
    exp = claims["exp"]
    assert isinstance(exp, int | float)
    session.execute(
        delete(ClientAssertionJti).where(
            ClientAssertionJti.client_id == client_id, ClientAssertionJti.expires_at < _utc(now)
        )
    )
    row = {"client_id": client_id, "jti": claims["jti"], "expires_at": _utc(exp + CLOCK_SKEW)}
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ClientAssertionJti)
    inserted = session.execute(insert.values(row).on_conflict_do_nothing().returning(ClientAssertionJti.jti)).first()
    if inserted is None:
        raise _invalid_client("assertion-replayed", "this client assertion has already been used", client)


def _requested_scopes(text: str | None, allowed: frozenset[str], client: Actor) -> frozenset[str]:
    if text is None or not text.strip():
        return allowed  # RFC 6749 §3.3: without a scope, the client's registered ones
    try:
        scopes = parse_scopes(text)
    except InvalidInput as error:
        raise OAuthError("invalid_scope", error.message, reason="unknown-scope", actor=client) from error
    if not scopes <= allowed:
        raise OAuthError(
            "invalid_scope",
            f"this client may ask for {' '.join(sorted(allowed))} only",
            reason="scope-not-allowed",
            actor=client,
        )
    return scopes


def _professional(session: Session, act_for: str | None, finess: str, client: Actor) -> tuple[str, str]:
    """The RPPS and profession of the professional the software acts for, who must work in the
    client's organisation; 403 otherwise (the issue's rule, where RFC 6749 would say 400)."""
    if act_for is None or not NATIONAL_ID.fullmatch(act_for):
        raise OAuthError(
            "invalid_request",
            "act_for names the professional the software acts for: 8 followed by the 11-digit RPPS",
            reason="no-act-for",
            actor=client,
        )
    rpps = act_for[1:]
    profession = session.execute(
        select(Professional.profession)
        .join(ProfessionalActivity, ProfessionalActivity.professional_id == Professional.id)
        .join(Organisation, Organisation.id == ProfessionalActivity.organisation_id)
        .where(Professional.rpps == rpps, Organisation.finess == finess)
    ).scalar_one_or_none()
    if profession is None:
        raise OAuthError(
            "invalid_grant",
            "this professional is not an active member of the client's organisation",
            status=403,
            reason="not-a-member",
            actor=client,
            professional=rpps,
        )
    return rpps, profession


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
