"""Signed bearer tokens (compact JWS, Ed25519) and the one verifier that turns them into an Actor.

Development tokens (`opendmp dev-token`) carry `"dev": true` and are accepted only while the
server runs in dev mode; the authentication issue adds real tokens checked by this same verifier.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.errors import JoseError
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
    def __init__(self, keys: Keys, *, dev_mode: bool) -> None:
        self._key = _jwk(keys)
        self._dev_mode = dev_mode
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
            raise Unauthenticated("invalid or expired token") from error
        claims = decoded.claims
        if claims.get("dev") and not self._dev_mode:
            raise Unauthenticated("development tokens are accepted only in dev mode")
        try:
            kind = ActorKind(claims["kind"])
        except (KeyError, ValueError) as error:
            raise Unauthenticated("token without a valid actor kind") from error
        if kind is ActorKind.SYSTEM:
            raise Unauthenticated("system actors do not call the API")
        ins = None
        if kind is ActorKind.PATIENT:
            try:
                ins = Ins(InsSystem(claims["ins_system"]), str(claims["sub"]))
            except (KeyError, ValueError) as error:
                raise Unauthenticated("patient token without an INS") from error
        return Actor(
            kind=kind,
            id=str(claims["sub"]),
            ins=ins,
            profession=claims.get("profession"),
            organisation=claims.get("organisation"),
            on_behalf_of=claims.get("on_behalf_of"),
            display_name=claims.get("display_name"),
            samu_regulator=claims.get("samu_regulator") is True and kind is ActorKind.PROFESSIONAL,
        )
