"""Software clients: professional and establishment software registered by an operator to one
organisation (FINESS), with its public keys (JWKS), a name and the scopes it may ask for.

A client authenticates with a signed assertion (auth/oauth.py) and is revoked at once: the
token verifier reads its status by primary key on every request (`is_client_active`)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import SCOPE_ACTIONS, Action
from opendmp.auth.models import ClientStatus, SoftwareClient
from opendmp.identity.actor import Actor
from opendmp.identity.models import Organisation
from opendmp.identity.service import validate_finess
from opendmp.journal import service as journal
from opendmp.kit.errors import InvalidInput, NotFound
from opendmp.kit.ids import parse_id

# Signature algorithms a client may sign its assertions with: asymmetric only, so the platform
# holds no client secret, and never "none". Ed25519 under its RFC 9864 name only ("EdDSA" is
# deprecated there, and joserfc warns on each use).
ASSERTION_ALGORITHMS = ("ES256", "ES384", "PS256", "RS256", "Ed25519")
_KEY_TYPES = {"EC": {"P-256", "P-384"}, "OKP": {"Ed25519"}, "RSA": set()}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MIN_RSA_BITS = 2048
MAX_JWKS_BYTES = 64 * 1024


class InvalidJwks(InvalidInput):
    pass


class ClientNotFound(NotFound):
    pass


@dataclass(frozen=True, slots=True)
class ClientIn:
    finess: str
    name: str
    scopes: frozenset[str]
    jwks: str  # JSON text of a JWK Set holding public keys only


@dataclass(frozen=True, slots=True)
class ClientView:
    id: uuid.UUID
    finess: str
    name: str
    scopes: frozenset[str]
    status: str
    key_ids: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def parse_scopes(text: str, *, field: str = "scope") -> frozenset[str]:
    """Space-separated scopes (RFC 6749 §3.3); each must be one of SCOPE_ACTIONS."""
    scopes = frozenset(text.split())
    unknown = sorted(scopes - SCOPE_ACTIONS.keys())
    if unknown:
        raise InvalidInput(f"unknown scope {unknown[0]!r} (known: {' '.join(sorted(SCOPE_ACTIONS))})", field=field)
    return scopes


def load_jwks(text: str) -> KeySet:
    """A JWK Set of public signature keys; anything else (a private or symmetric key, a weak RSA
    key, an encryption key, a duplicate kid) is refused with the reason."""
    if len(text.encode()) > MAX_JWKS_BYTES:
        raise InvalidJwks("the JWKS is larger than 64 KiB", field="jwks")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise InvalidJwks("the JWKS is not JSON", field="jwks") from error
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise InvalidJwks('a JWKS is an object {"keys": [...]} with at least one key', field="jwks")
    for key in keys:
        _check_public_signature_key(key)
    try:
        key_set = KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as error:
        raise InvalidJwks(f"a key of the JWKS cannot be read ({type(error).__name__})", field="jwks") from error
    if len(key_set.keys) != len(keys):
        raise InvalidJwks("a key of the JWKS has an unknown type", field="jwks")
    kids = [key.kid for key in key_set.keys]
    if len(set(kids)) != len(kids):
        raise InvalidJwks("two keys of the JWKS share a kid", field="jwks")
    return key_set


def _check_public_signature_key(key: dict[str, Any]) -> None:
    kty = key.get("kty")
    if kty not in _KEY_TYPES:
        raise InvalidJwks(f"key type {kty!r} is not accepted (EC, OKP or RSA public keys)", field="jwks")
    if _PRIVATE_MEMBERS & key.keys():
        raise InvalidJwks("the JWKS holds a private key: register the public keys only", field="jwks")
    curves = _KEY_TYPES[kty]
    if curves and key.get("crv") not in curves:
        raise InvalidJwks(f"curve {key.get('crv')!r} is not accepted for {kty} keys", field="jwks")
    if key.get("use", "sig") != "sig":
        raise InvalidJwks("the keys must be signature keys (use: sig)", field="jwks")
    if "alg" in key and key["alg"] not in ASSERTION_ALGORITHMS:
        raise InvalidJwks(f"algorithm {key['alg']!r} is not accepted", field="jwks")
    if kty == "RSA" and _modulus_bits(key.get("n")) < MIN_RSA_BITS:  # checked before joserfc reads it
        raise InvalidJwks(f"RSA keys need at least {MIN_RSA_BITS} bits", field="jwks")


def _modulus_bits(n: object) -> int:
    if not isinstance(n, str):
        return 0
    try:
        return int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))).bit_length()
    except ValueError:
        return 0


def add_client(session: Session, actor: Actor, data: ClientIn, now: datetime) -> ClientView:
    access.require(session, actor, Action.DIRECTORY_ADMIN, None, now)
    finess = validate_finess(data.finess)
    name = data.name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("the client needs a name (at most 200 characters)", field="name")
    if not data.scopes:
        raise InvalidInput("the client needs at least one scope", field="scope")
    scopes = parse_scopes(" ".join(data.scopes))
    key_set = load_jwks(data.jwks)
    organisation = session.execute(select(Organisation).where(Organisation.finess == finess)).scalar_one_or_none()
    if organisation is None:
        raise NotFound(f"no organisation with FINESS {finess} in the directory", field="finess")
    client = SoftwareClient(
        organisation_id=organisation.id,
        name=name,
        scopes=" ".join(sorted(scopes)),
        jwks=json.dumps(key_set.as_dict(private=False), sort_keys=True),
        status=ClientStatus.ACTIVE.value,
        created_at=now,
        created_by=actor.id[:64],
    )
    session.add(client)
    session.flush()
    journal.append(
        session,
        actor,
        journal.Event("client:add", "software-client", str(client.id), reason=f"finess={finess}"),
        record_id=None,
        at=now,
    )
    return _view(client, finess)


def list_clients(session: Session, actor: Actor, now: datetime) -> list[ClientView]:
    access.require(session, actor, Action.DIRECTORY_ADMIN, None, now)
    rows = session.execute(
        select(SoftwareClient, Organisation.finess)
        .join(Organisation, Organisation.id == SoftwareClient.organisation_id)
        .order_by(Organisation.finess, SoftwareClient.created_at, SoftwareClient.id)
    ).all()
    return [_view(client, finess) for client, finess in rows]


def revoke_client(session: Session, actor: Actor, client_id: str, now: datetime) -> ClientView:
    """Revoke at once: the next request with any of its tokens is refused. Revoking twice is
    harmless and keeps the first date."""
    access.require(session, actor, Action.DIRECTORY_ADMIN, None, now)
    found = get_client(session, client_id)
    if found is None:
        raise ClientNotFound(f"no software client {client_id}", field="client")
    client, finess = found
    if client.status != ClientStatus.REVOKED:
        client.status, client.revoked_at, client.revoked_by = ClientStatus.REVOKED.value, now, actor.id[:64]
    session.flush()
    journal.append(
        session, actor, journal.Event("client:revoke", "software-client", str(client.id)), record_id=None, at=now
    )
    return _view(client, finess)


def get_client(session: Session, client_id: str) -> tuple[SoftwareClient, str] | None:
    """The client and its organisation's FINESS; None for an unknown or malformed id."""
    parsed = parse_id(client_id)
    if parsed is None:
        return None
    row = session.execute(
        select(SoftwareClient, Organisation.finess)
        .join(Organisation, Organisation.id == SoftwareClient.organisation_id)
        .where(SoftwareClient.id == parsed)
    ).first()
    return (row[0], row[1]) if row is not None else None


_STATUS = select(SoftwareClient.status).where(SoftwareClient.id == bindparam("client_id"))


def is_client_active(engine: Engine, client_id: str) -> bool:
    """One read by primary key, on its own short connection (the verifier runs before the
    request's unit of work); on SQLite a deferred BEGIN, so it takes no write lock."""
    parsed = parse_id(client_id)
    if parsed is None:
        return False
    with engine.connect().execution_options(sqlite_deferred_begin=True) as connection:
        status = connection.execute(_STATUS, {"client_id": parsed}).scalar_one_or_none()
    return status == ClientStatus.ACTIVE


def _view(client: SoftwareClient, finess: str) -> ClientView:
    kids = tuple(str(key.get("kid", "")) for key in json.loads(client.jwks)["keys"])
    return ClientView(
        id=client.id,
        finess=finess,
        name=client.name,
        scopes=frozenset(client.scopes.split()),
        status=client.status,
        key_ids=kids,
        created_at=client.created_at,
        revoked_at=client.revoked_at,
    )
