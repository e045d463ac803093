"""Signed bearer tokens (compact JWS, Ed25519) and the one verifier that turns them into an Actor.

Development tokens (`opendmp dev-token`) carry `"dev": true` and are accepted only while the
server runs in dev mode. Software clients get real tokens from POST /oauth/token (auth/oauth.py):
the same verifier checks them, and reads the client's status on each use (revocation at once).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.errors import BadSignatureError, ClaimError, ExpiredTokenError, JoseError, UnsupportedAlgorithmError
from joserfc.jwk import OKPKey

from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.ins import Ins, InsSystem
from opendmp.kit.errors import DomainError, ErrorKind
from opendmp.kit.keys import Keys

ALGORITHM = "Ed25519"
ISSUER = "opendmp"
AUDIENCE = "opendmp-api"
DEV_TOKEN_TTL = 12 * 3600


class Unauthenticated(DomainError):
    kind = ErrorKind.UNAUTHENTICATED


class TokenRefused(Unauthenticated):
    """A bearer token the verifier refused: `reason` is a fixed code for the journal, `actor` who
    presented it when the signature held (a revoked client), else None: an unverified claim
    names no one."""

    def __init__(self, message: str, *, reason: str, actor: Actor | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.actor = actor


def _why(error: Exception) -> str:
    if isinstance(error, ExpiredTokenError):
        return "expired"
    if isinstance(error, BadSignatureError):
        return "bad-signature"
    if isinstance(error, UnsupportedAlgorithmError):
        return "algorithm-refused"
    if isinstance(error, ClaimError):
        return "invalid-claims"
    return "malformed"


def _jwk(keys: Keys) -> OKPKey:
    pem = keys.token_signing_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return OKPKey.import_key(pem)


def actor_claims(actor: Actor) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": actor.id, "kind": actor.kind.value}
    if actor.ins is not None:
        claims["ins_system"] = actor.ins.system.value
    for name in ("profession", "organisation", "on_behalf_of", "display_name"):
        value = getattr(actor, name)
        if value is not None:
            claims[name] = value
    if actor.samu_regulator:
        claims["samu_regulator"] = True
    if actor.scopes is not None:
        claims["scope"] = " ".join(sorted(actor.scopes))  # RFC 8693 §4.2: space-separated
    return claims


def issue_token(keys: Keys, actor: Actor, *, dev: bool, ttl: int = DEV_TOKEN_TTL, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = actor_claims(actor) | {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + ttl,
        "jti": secrets.token_urlsafe(16),
    }
    if dev:
        claims["dev"] = True
    return jwt.encode({"alg": ALGORITHM}, claims, _jwk(keys), algorithms=[ALGORITHM])


class TokenVerifier:
    """`client_active(client_id)` says whether a software client may still act; without it
    (tools and tests that build a bare verifier) software tokens other than development ones
    are refused, since their revocation could not be checked."""

    def __init__(self, keys: Keys, *, dev_mode: bool, client_active: Callable[[str], bool] | None = None) -> None:
        self._key = _jwk(keys)
        self._dev_mode = dev_mode
        self._client_active = client_active
        self._claims: dict[str, Any] = {
            "iss": {"essential": True, "value": ISSUER},
            "aud": {"essential": True, "value": AUDIENCE},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }

    def verify(self, token: str, *, now: float | None = None) -> Actor:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            registry = jwt.JWTClaimsRegistry(now=int(now) if now is not None else None, **self._claims)
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as error:
            raise TokenRefused("invalid or expired token", reason=_why(error)) from error
        claims = decoded.claims
        if claims.get("dev") and not self._dev_mode:
            raise TokenRefused("development tokens are accepted only in dev mode", reason="dev-token-outside-dev-mode")
        try:
            kind = ActorKind(claims["kind"])
        except (KeyError, ValueError) as error:
            raise TokenRefused("token without a valid actor kind", reason="no-actor-kind") from error
        if kind is ActorKind.SYSTEM:
            raise TokenRefused("system actors do not call the API", reason="system-actor")
        ins = None
        if kind is ActorKind.PATIENT:
            try:
                ins = Ins(InsSystem(claims["ins_system"]), str(claims["sub"]))
            except (KeyError, ValueError) as error:
                raise TokenRefused("patient token without an INS", reason="no-ins") from error
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if kind is ActorKind.SOFTWARE and isinstance(scope, str) else None
        actor = Actor(
            kind=kind,
            id=str(claims["sub"]),
            ins=ins,
            profession=claims.get("profession"),
            organisation=claims.get("organisation"),
            on_behalf_of=claims.get("on_behalf_of"),
            display_name=claims.get("display_name"),
            samu_regulator=claims.get("samu_regulator") is True and kind is ActorKind.PROFESSIONAL,
            scopes=scopes,
        )
        if kind is ActorKind.SOFTWARE and not claims.get("dev"):
            # A client's token is good only while the client is: one read by primary key.
            if scopes is None:
                raise TokenRefused("software token without scopes", reason="no-scope", actor=actor)
            if self._client_active is None or not self._client_active(actor.id):
                raise TokenRefused("this software client may no longer act", reason="client-revoked", actor=actor)
        return actor
