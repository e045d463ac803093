"""Software clients on both databases: registration, the token grant's rules (RFC 7523 client
assertions, the professional acted for, scopes), revocation at once, and the journal of
refusals. The HTTP edge is tested in tests/fhir/test_oauth_api.py; the helpers here serve both."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import ECKey, Key, OctKey, OKPKey
from sqlalchemy import func, select

from opendmp.auth import clients, oauth
from opendmp.auth.models import ClientAssertionJti
from opendmp.auth.tokens import TokenRefused, issue_token
from opendmp.identity.actor import Actor, ActorKind
from opendmp.journal.models import JournalEntry
from opendmp.journal.service import entries_of
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import InvalidInput, NotFound
from opendmp.runtime import Runtime
from tests import factories as f

HOSPITAL = "750000001"
CLINIC = "690000002"
DOCTOR = Actor.professional("10000000002", "10", HOSPITAL)
OUTSIDER = Actor.professional("10000000003", "10", CLINIC)  # works at the clinic only
FEEDING_AND_CONSULTATION = ("dmp:alimentation", "dmp:consultation")


# --- helpers (tests/fhir/test_oauth_api.py and tests/cli/test_client_cli.py use them too) -------


def establishment(runtime: Runtime) -> None:
    """A hospital with a doctor, a clinic with another."""
    f.add_organisation(runtime, HOSPITAL, kind="hospital", name="CHU de test")
    f.add_organisation(runtime, CLINIC, kind="clinic", department="69", name="Clinique de test")
    f.add_professional(runtime, DOCTOR.id, "10", finess=HOSPITAL)
    f.add_professional(runtime, OUTSIDER.id, "10", finess=CLINIC, family="MARTIN")


def client_key() -> ECKey:
    return ECKey.generate_key("P-256", auto_kid=True)


def jwks_of(*keys: Key) -> str:
    return json.dumps({"keys": [key.as_dict(private=False) for key in keys]})


def _weak_rsa_jwk() -> dict[str, str]:
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_numbers()

    def b64(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8)).rstrip(b"=").decode()

    return {"kty": "RSA", "n": b64(numbers.n), "e": b64(numbers.e)}


def unsigned(signed: str) -> str:
    """The same claims under `alg: none`, without a signature (built by hand: no library helps)."""
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return f"{header}.{signed.split('.')[1]}."


def register(
    runtime: Runtime,
    key: Key,
    scopes: tuple[str, ...] = FEEDING_AND_CONSULTATION,
    finess: str = HOSPITAL,
) -> str:
    with unit_of_work(runtime.sessions) as session:
        client = clients.add_client(
            session,
            f.OPERATOR,
            clients.ClientIn(finess, "LPS du CHU", frozenset(scopes), jwks_of(key)),
            runtime.clock.now(),
        )
    return str(client.id)


def audience(runtime: Runtime) -> str:
    return oauth.token_endpoint(runtime.settings.public_base_url)


def assertion(
    runtime: Runtime,
    client_id: str,
    key: Key,
    *,
    alg: str = "ES256",
    lifetime: int = 60,
    now: float | None = None,
    **claims: Any,
) -> str:
    """A client assertion as RFC 7523 wants it; keyword arguments override or add claims."""
    issued = int(now if now is not None else time.time())
    values: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience(runtime),
        "iat": issued,
        "exp": issued + lifetime,
        "jti": uuid.uuid4().hex,
    }
    values.update(claims)
    return jwt.encode({"alg": alg, "kid": key.kid}, values, key, algorithms=[alg])


def form(client_assertion: str, act_for: str = "8" + DOCTOR.id, **extra: str) -> dict[str, list[str]]:
    values = {
        "grant_type": oauth.GRANT_TYPE,
        "client_assertion_type": oauth.CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion,
        "act_for": act_for,
        **extra,
    }
    return {name: [value] for name, value in values.items()}


def grant(runtime: Runtime, body: Mapping[str, list[str]], now: float | None = None) -> oauth.Grant:
    """The token endpoint's rules in one transaction, committed even on a refusal (as the route does)."""
    refused: oauth.OAuthError | None = None
    with unit_of_work(runtime.sessions) as session:
        try:
            return oauth.grant_client_credentials(
                session,
                runtime.keys,
                body,
                audience=audience(runtime),
                now=now if now is not None else time.time(),
                at=runtime.clock.now(),
                source_address="192.0.2.7",
            )
        except oauth.OAuthError as error:
            refused = error
    raise refused


def refusal(runtime: Runtime, body: Mapping[str, list[str]], now: float | None = None) -> oauth.OAuthError:
    with pytest.raises(oauth.OAuthError) as caught:
        grant(runtime, body, now)
    return caught.value


def system_journal(runtime: Runtime, action: str) -> list[JournalEntry]:
    with runtime.sessions() as session:
        return [entry for entry in entries_of(session, None) if entry.action == action]


# --- registration -------------------------------------------------------------------------------


def test_a_client_is_registered_to_an_organisation_of_the_directory_with_its_public_keys(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    with unit_of_work(runtime.sessions) as session:
        [listed] = clients.list_clients(session, f.OPERATOR, runtime.clock.now())
    assert (str(listed.id), listed.finess, listed.status) == (client_id, HOSPITAL, "active")
    assert listed.scopes == frozenset(FEEDING_AND_CONSULTATION)
    assert listed.key_ids == (key.kid,)
    [added] = system_journal(runtime, "client:add")
    assert (added.actor_id, added.target_id, added.reason) == (f.OPERATOR.id, client_id, f"finess={HOSPITAL}")


def test_a_client_of_an_unknown_organisation_is_refused(runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        register(runtime, client_key(), finess="750000099")


@pytest.mark.parametrize(
    ("jwks", "why"),
    [
        (lambda: json.dumps({"keys": [client_key().as_dict(private=True)]}), "private key"),
        (lambda: jwks_of(OctKey.generate_key(256)), "key type 'oct'"),
        (lambda: json.dumps({"keys": [_weak_rsa_jwk()]}), "2048 bits"),
        (lambda: json.dumps({"keys": [{**client_key().as_dict(), "use": "enc"}]}), "signature keys"),
        (lambda: json.dumps({"keys": []}), "at least one key"),
        (lambda: "not json", "not JSON"),
    ],
)
def test_only_public_signature_keys_are_registered(runtime: Runtime, jwks: Any, why: str) -> None:
    establishment(runtime)
    with pytest.raises(InvalidInput, match=why), unit_of_work(runtime.sessions) as session:
        clients.add_client(
            session,
            f.OPERATOR,
            clients.ClientIn(HOSPITAL, "LPS", frozenset({"dmp:consultation"}), jwks()),
            runtime.clock.now(),
        )


def test_a_client_needs_known_scopes(runtime: Runtime) -> None:
    establishment(runtime)
    with pytest.raises(InvalidInput, match="unknown scope"):
        register(runtime, client_key(), scopes=("dmp:everything",))


def test_only_operators_register_clients(runtime: Runtime) -> None:
    establishment(runtime)
    with pytest.raises(Exception, match="not permitted"), unit_of_work(runtime.sessions) as session:
        clients.add_client(
            session,
            DOCTOR,
            clients.ClientIn(HOSPITAL, "LPS", frozenset({"dmp:consultation"}), jwks_of(client_key())),
            runtime.clock.now(),
        )


# --- the token grant ----------------------------------------------------------------------------


def test_a_signed_assertion_gets_a_token_carrying_the_software_and_its_professional(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    granted = grant(runtime, form(assertion(runtime, client_id, key), scope="dmp:alimentation"))
    assert granted.expires_in <= 15 * 60 and granted.scope == "dmp:alimentation"
    actor = runtime.verifier.verify(granted.access_token)
    assert actor == Actor.software(client_id, HOSPITAL, DOCTOR.id, "10", scopes=frozenset({"dmp:alimentation"}))
    [issued] = system_journal(runtime, "auth:token")
    assert (issued.actor_kind, issued.actor_id, issued.actor_organisation) == ("software", client_id, HOSPITAL)
    assert (issued.target_type, issued.target_id, issued.outcome) == ("professional", DOCTOR.id, "success")
    assert issued.source_address == "192.0.2.7"


def test_without_a_scope_the_token_gets_the_clients_registered_scopes(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    granted = grant(runtime, form(assertion(runtime, register(runtime, key), key)))
    assert granted.scope == "dmp:alimentation dmp:consultation"


def test_ed25519_keys_sign_assertions_too(runtime: Runtime) -> None:
    establishment(runtime)
    key = OKPKey.generate_key("Ed25519", auto_kid=True)
    client_id = register(runtime, key)
    assert grant(runtime, form(assertion(runtime, client_id, key, alg="Ed25519"))).access_token


def test_a_replayed_assertion_is_refused(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    signed = assertion(runtime, register(runtime, key), key)
    grant(runtime, form(signed))
    replayed = refusal(runtime, form(signed))
    assert (replayed.error, replayed.status, replayed.reason) == ("invalid_client", 401, "assertion-replayed")


def test_an_assertion_refused_after_its_signature_held_is_used_up_all_the_same(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    signed = assertion(runtime, register(runtime, key), key)
    assert refusal(runtime, form(signed, act_for="8" + OUTSIDER.id)).status == 403
    assert refusal(runtime, form(signed)).reason == "assertion-replayed"


def test_used_assertions_are_forgotten_once_expired(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    start = time.time()
    grant(runtime, form(assertion(runtime, client_id, key, now=start)), now=start)
    later = start + 10 * 60
    grant(runtime, form(assertion(runtime, client_id, key, now=later)), now=later)
    with runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(ClientAssertionJti)).scalar_one() == 1


def test_an_expired_assertion_is_refused(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    signed = assertion(runtime, register(runtime, key), key, now=time.time() - 600)
    assert refusal(runtime, form(signed)).reason == "assertion-expired"


def test_an_assertion_living_more_than_five_minutes_is_refused(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    signed = assertion(runtime, register(runtime, key), key, lifetime=3600)
    assert refusal(runtime, form(signed)).reason == "assertion-lifetime"


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "https://elsewhere.example/oauth/token"},
        {"sub": "10000000002"},
        {"jti": None},
        {"exp": None},
    ],
)
def test_an_assertion_for_another_audience_subject_or_without_jti_or_exp_is_refused(
    runtime: Runtime, claims: dict[str, Any]
) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    signed = assertion(runtime, client_id, key, **claims)
    refused = refusal(runtime, form(signed))
    assert (refused.error, refused.status, refused.reason) == ("invalid_client", 401, "assertion-claims")


def test_alg_none_is_refused(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    refused = refusal(runtime, form(unsigned(assertion(runtime, client_id, key))))
    assert (refused.status, refused.reason) == (401, "assertion-algorithm")


def test_an_assertion_signed_with_a_symmetric_key_is_refused(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    forged = assertion(runtime, client_id, OctKey.generate_key(256, auto_kid=True), alg="HS256")
    assert refusal(runtime, form(forged)).reason == "assertion-algorithm"


def test_a_tampered_assertion_is_refused(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    header, _, signature = assertion(runtime, client_id, key).split(".")
    other_claims = assertion(runtime, client_id, key, lifetime=120).split(".")[1]
    refused = refusal(runtime, form(f"{header}.{other_claims}.{signature}"))
    assert (refused.status, refused.reason) == (401, "assertion-signature")


def test_an_assertion_signed_with_another_key_is_refused(runtime: Runtime) -> None:
    establishment(runtime)
    key, stolen_kid_forgery = client_key(), ECKey.generate_key("P-256")
    client_id = register(runtime, key)
    forged = jwt.encode(
        {"alg": "ES256", "kid": key.kid},
        {"iss": client_id, "sub": client_id, "aud": audience(runtime), "exp": int(time.time()) + 60, "jti": "x"},
        stolen_kid_forgery,
        algorithms=["ES256"],
    )
    assert refusal(runtime, form(forged)).reason == "assertion-signature"


def test_an_unknown_client_is_refused_and_journaled_without_its_claimed_name(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    claimed = str(uuid.uuid4())
    refused = refusal(runtime, form(assertion(runtime, claimed, key)))
    assert (refused.error, refused.status, refused.reason) == ("invalid_client", 401, "unknown-client")
    [entry] = system_journal(runtime, "auth:token")
    assert (entry.actor_kind, entry.actor_id) == ("system", "auth:unidentified-caller")
    assert (entry.outcome, entry.reason, entry.source_address) == ("denied", "unknown-client", "192.0.2.7")
    assert claimed not in json.dumps([str(getattr(entry, c.key)) for c in JournalEntry.__table__.columns])


def test_a_client_acting_for_a_professional_outside_its_organisation_is_refused(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    refused = refusal(runtime, form(assertion(runtime, client_id, key), act_for="8" + OUTSIDER.id))
    assert (refused.error, refused.status, refused.reason) == ("invalid_grant", 403, "not-a-member")
    [entry] = system_journal(runtime, "auth:token")
    assert (entry.actor_id, entry.actor_organisation, entry.target_id) == (client_id, HOSPITAL, OUTSIDER.id)
    assert (entry.outcome, entry.reason) == ("denied", "not-a-member")


def test_a_professional_unknown_to_the_directory_is_refused_the_same_way(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    refused = refusal(runtime, form(assertion(runtime, register(runtime, key), key), act_for="810000000999"))
    assert (refused.error, refused.status) == ("invalid_grant", 403)


@pytest.mark.parametrize("act_for", [None, "10000000002", "8ABCDEFGHIJK", "8" + "1" * 12])
def test_the_professional_acted_for_is_named_by_8_and_the_rpps(runtime: Runtime, act_for: str | None) -> None:
    establishment(runtime)
    key = client_key()
    body = form(assertion(runtime, register(runtime, key), key))
    if act_for is None:
        del body["act_for"]
    else:
        body["act_for"] = [act_for]
    refused = refusal(runtime, body)
    assert (refused.error, refused.status) == ("invalid_request", 400)


def test_scopes_beyond_the_clients_are_refused(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key, scopes=("dmp:consultation",))
    refused = refusal(runtime, form(assertion(runtime, client_id, key), scope="dmp:consultation dmp:creation"))
    assert (refused.error, refused.status, refused.reason) == ("invalid_scope", 400, "scope-not-allowed")
    unknown = refusal(runtime, form(assertion(runtime, client_id, key), scope="dmp:everything"))
    assert (unknown.error, unknown.reason) == ("invalid_scope", "unknown-scope")


@pytest.mark.parametrize(
    ("change", "error", "status"),
    [
        ({"grant_type": ["authorization_code"]}, "unsupported_grant_type", 400),
        ({"grant_type": []}, "invalid_request", 400),
        (
            {"client_assertion_type": ["urn:ietf:params:oauth:client-assertion-type:saml2-bearer"]},
            "invalid_client",
            401,
        ),
        ({"client_assertion": ["not-a-jwt"]}, "invalid_client", 401),
        ({"act_for": ["8" + DOCTOR.id, "8" + OUTSIDER.id]}, "invalid_request", 400),
    ],
)
def test_malformed_requests_get_the_oauth2_error_and_status(
    runtime: Runtime, change: dict[str, list[str]], error: str, status: int
) -> None:
    establishment(runtime)
    key = client_key()
    body = {**form(assertion(runtime, register(runtime, key), key)), **change}
    refused = refusal(runtime, body)
    assert (refused.error, refused.status) == (error, status)


# --- revocation ---------------------------------------------------------------------------------


def test_a_revoked_client_gets_no_token_and_its_tokens_are_refused_at_once(runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    token = grant(runtime, form(assertion(runtime, client_id, key))).access_token
    assert runtime.verifier.verify(token).id == client_id
    with unit_of_work(runtime.sessions) as session:
        revoked = clients.revoke_client(session, f.OPERATOR, client_id, runtime.clock.now())
    assert revoked.status == "revoked" and revoked.revoked_at == runtime.clock.now()
    with pytest.raises(TokenRefused) as caught:
        runtime.verifier.verify(token)
    assert caught.value.reason == "client-revoked" and caught.value.actor is not None
    assert caught.value.actor.on_behalf_of == DOCTOR.id
    assert refusal(runtime, form(assertion(runtime, client_id, key))).reason == "client-revoked"
    assert [e.target_id for e in system_journal(runtime, "client:revoke")] == [client_id]


def test_revoking_an_unknown_client_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(NotFound), unit_of_work(runtime.sessions) as session:
        clients.revoke_client(session, f.OPERATOR, str(uuid.uuid4()), runtime.clock.now())


def test_a_software_token_without_scopes_is_refused_unless_it_is_a_development_token(runtime: Runtime) -> None:
    establishment(runtime)
    client_id = register(runtime, client_key())
    unscoped = Actor.software(client_id, HOSPITAL, DOCTOR.id, "10")
    with pytest.raises(TokenRefused, match="without scopes"):
        runtime.verifier.verify(issue_token(runtime.keys, unscoped, dev=False, ttl=600))
    assert runtime.verifier.verify(issue_token(runtime.keys, unscoped, dev=True)).kind is ActorKind.SOFTWARE
