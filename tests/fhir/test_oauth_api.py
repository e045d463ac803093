"""Software over HTTP: POST /oauth/token (client credentials with private_key_jwt), its tokens on
the FHIR API (scopes, revocation, forged tokens), and the security headers of every answer."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, OKPKey
from litestar.testing import TestClient
from sqlalchemy import select

from opendmp.app import create_app
from opendmp.auth import clients
from opendmp.auth.tokens import ALGORITHM, AUDIENCE, ISSUER, TokenVerifier, issue_token
from opendmp.identity.actor import Actor
from opendmp.journal.models import JournalEntry
from opendmp.journal.service import entries_of
from opendmp.kit.db import unit_of_work
from opendmp.notify.models import OutboxMessage
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.conftest import bearer
from tests.fhir.test_document_api import JSON_HEADERS, document_reference
from tests.fhir.test_patient_api import outcome
from tests.integration.test_software_clients import (
    DOCTOR,
    HOSPITAL,
    OUTSIDER,
    assertion,
    audience,
    client_key,
    establishment,
    register,
    system_journal,
    unsigned,
)


def token_request(client_assertion: str, act_for: str = "8" + DOCTOR.id, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": client_assertion,
        "act_for": act_for,
        **extra,
    }


def ask_token(client: TestClient[Any], client_assertion: str, **extra: str) -> Any:
    return client.post("/oauth/token", data=token_request(client_assertion, **extra))


def software_token(client: TestClient[Any], runtime: Runtime, key: Key, client_id: str, **extra: str) -> str:
    response = ask_token(client, assertion(runtime, client_id, key), **extra)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def a_record_for_the_doctor(runtime: Runtime) -> Any:
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits).record.id
    f.authorise(runtime, record_id, DOCTOR)  # the software acts for them: they need the access
    return record_id


def oauth_error(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


# --- the token endpoint -------------------------------------------------------------------------


def test_software_gets_a_token_with_a_signed_assertion_and_files_a_document(
    client: TestClient[Any], runtime: Runtime
) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    record_id = a_record_for_the_doctor(runtime)
    response = ask_token(client, assertion(runtime, client_id, key), scope="dmp:alimentation dmp:consultation")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store" and response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 15 * 60
    assert body["scope"] == "dmp:alimentation dmp:consultation"
    claims = jwt.decode(body["access_token"], OKPKey.import_key(_public_pem(runtime)), algorithms=[ALGORITHM]).claims
    assert {k: claims[k] for k in ("sub", "kind", "organisation", "on_behalf_of", "profession", "scope")} == {
        "sub": client_id,
        "kind": "software",
        "organisation": HOSPITAL,
        "on_behalf_of": DOCTOR.id,
        "profession": "10",
        "scope": "dmp:alimentation dmp:consultation",
    }
    assert claims["exp"] - claims["iat"] <= 15 * 60 and "dev" not in claims

    headers = {**JSON_HEADERS, **auth(body["access_token"])}
    filed = client.post("/fhir/DocumentReference", json=document_reference(record_id), headers=headers)
    assert filed.status_code == 201, filed.text
    read = client.get(filed.headers["location"].split("/_history")[0], headers=auth(body["access_token"]))
    assert read.status_code == 200, read.text
    with runtime.sessions() as session:
        created = [e for e in entries_of(session, record_id) if e.action == "document:create"]
    assert [(e.actor_kind, e.actor_id, e.actor_organisation) for e in created] == [("software", client_id, HOSPITAL)]


def _public_pem(runtime: Runtime) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return runtime.keys.token_signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_a_replayed_assertion_is_refused(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    signed = assertion(runtime, register(runtime, key), key)
    assert ask_token(client, signed).status_code == 200
    oauth_error(ask_token(client, signed), 401, "invalid_client")
    assert [e.reason for e in system_journal(runtime, "auth:token")] == [
        "scope=dmp:alimentation dmp:consultation",
        "assertion-replayed",
    ]


def test_an_expired_or_tampered_assertion_is_refused(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    oauth_error(ask_token(client, assertion(runtime, client_id, key, now=time.time() - 900)), 401, "invalid_client")
    header, _, signature = assertion(runtime, client_id, key).split(".")
    claims = assertion(runtime, client_id, key, scope_hint="more").split(".")[1]
    oauth_error(ask_token(client, f"{header}.{claims}.{signature}"), 401, "invalid_client")
    assert [e.reason for e in system_journal(runtime, "auth:token")] == ["assertion-expired", "assertion-signature"]


def test_alg_none_is_refused(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    oauth_error(ask_token(client, unsigned(assertion(runtime, client_id, key))), 401, "invalid_client")
    # …and a bearer token under alg none, with the claims of a real one, opens nothing either.
    token = software_token(client, runtime, key, client_id)
    outcome(client.get("/fhir/Patient?identifier=x", headers=auth(unsigned(token))), 401, "login")
    assert [e.reason for e in system_journal(runtime, "auth:bearer")] == ["algorithm-refused"]


def test_a_token_signed_with_another_key_is_refused(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    client_id = register(runtime, client_key())
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": client_id,
        "kind": "software",
        "organisation": HOSPITAL,
        "on_behalf_of": DOCTOR.id,
        "profession": "10",
        "scope": "dmp:consultation",
        "iat": now,
        "exp": now + 600,
    }
    forged = jwt.encode({"alg": ALGORITHM}, claims, OKPKey.generate_key("Ed25519"), algorithms=[ALGORITHM])
    response = client.get("/fhir/Patient?identifier=x", headers=auth(forged))
    outcome(response, 401, "login")
    assert response.headers["www-authenticate"].startswith("Bearer")
    [entry] = system_journal(runtime, "auth:bearer")
    assert (entry.actor_kind, entry.actor_id, entry.outcome, entry.reason) == (
        "system",
        "auth:unidentified-caller",
        "denied",
        "bad-signature",
    )


def test_a_tampered_or_expired_token_is_refused(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    header, payload, signature = software_token(client, runtime, key, client_id).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    widened = {**claims, "scope": "dmp:alimentation dmp:consultation dmp:creation"}
    tampered = base64.urlsafe_b64encode(json.dumps(widened).encode()).rstrip(b"=").decode()
    outcome(client.get("/fhir/Patient?identifier=x", headers=auth(f"{header}.{tampered}.{signature}")), 401, "login")
    actor = Actor.software(client_id, HOSPITAL, DOCTOR.id, "10", scopes=frozenset({"dmp:consultation"}))
    expired = issue_token(runtime.keys, actor, dev=False, ttl=15 * 60, now=time.time() - 3600)
    outcome(client.get("/fhir/Patient?identifier=x", headers=auth(expired)), 401, "login")
    assert [e.reason for e in system_journal(runtime, "auth:bearer")] == ["bad-signature", "expired"]


def test_a_client_acting_for_a_professional_outside_its_organisation_is_refused(
    client: TestClient[Any], runtime: Runtime
) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    oauth_error(ask_token(client, assertion(runtime, client_id, key), act_for="8" + OUTSIDER.id), 403, "invalid_grant")
    [entry] = system_journal(runtime, "auth:token")
    assert (entry.actor_id, entry.target_id, entry.outcome) == (client_id, OUTSIDER.id, "denied")


def test_the_token_endpoint_answers_in_oauth2_terms(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    as_json = client.post("/oauth/token", json=token_request(assertion(runtime, client_id, key)))
    oauth_error(as_json, 400, "invalid_request")
    oauth_error(client.post("/oauth/token", data={"grant_type": "password"}), 400, "unsupported_grant_type")
    oauth_error(client.post("/oauth/token", data={"grant_type": "client_credentials"}), 401, "invalid_client")
    signed = assertion(runtime, client_id, key)
    oauth_error(ask_token(client, signed, scope="dmp:creation"), 400, "invalid_scope")
    assert client.get("/oauth/token").status_code == 405


# --- tokens on the API --------------------------------------------------------------------------


def test_revoking_a_client_refuses_its_tokens_at_once(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    record_id = a_record_for_the_doctor(runtime)
    token = software_token(client, runtime, key, client_id)
    assert client.get(f"/fhir/Patient/{record_id}", headers=auth(token)).status_code == 200
    with unit_of_work(runtime.sessions) as session:
        clients.revoke_client(session, f.OPERATOR, client_id, runtime.clock.now())
    outcome(client.get(f"/fhir/Patient/{record_id}", headers=auth(token)), 401, "login")
    oauth_error(ask_token(client, assertion(runtime, client_id, key)), 401, "invalid_client")
    [entry] = system_journal(runtime, "auth:bearer")
    assert (entry.actor_kind, entry.actor_id, entry.actor_organisation) == ("software", client_id, HOSPITAL)
    assert (entry.outcome, entry.reason) == ("denied", "client-revoked")


def test_consultation_scope_cannot_file_documents(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    record_id = a_record_for_the_doctor(runtime)
    token = software_token(client, runtime, key, client_id, scope="dmp:consultation")
    refused = client.post(
        "/fhir/DocumentReference", json=document_reference(record_id), headers={**JSON_HEADERS, **auth(token)}
    )
    outcome(refused, 403, "forbidden")
    with runtime.sessions() as session:
        [denied] = [e for e in entries_of(session, record_id) if e.outcome == "denied"]
    assert (denied.action, denied.actor_id, denied.reason) == ("document:create", client_id, "outside-token-scopes")


def test_a_feeding_scope_files_but_reads_nothing(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    record_id = a_record_for_the_doctor(runtime)
    filed = client.post(
        "/fhir/DocumentReference",
        json=document_reference(record_id),
        headers={**JSON_HEADERS, **bearer(runtime, DOCTOR)},
    )
    assert filed.status_code == 201, filed.text
    token = software_token(client, runtime, key, client_id, scope="dmp:alimentation")
    found = client.get(f"/fhir/DocumentReference?patient={record_id}", headers=auth(token))
    assert found.status_code == 200 and found.json()["total"] == 0
    outcome(client.get(filed.headers["location"].split("/_history")[0], headers=auth(token)), 404, "not-found")


def test_development_tokens_for_software_work_in_dev_mode_only(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    record_id = a_record_for_the_doctor(runtime)
    software = Actor.software("lps-dev", HOSPITAL, DOCTOR.id, "10")
    assert client.get(f"/fhir/Patient/{record_id}", headers=bearer(runtime, software)).status_code == 200
    runtime.verifier = TokenVerifier(runtime.keys, dev_mode=False)
    outcome(client.get(f"/fhir/Patient/{record_id}", headers=bearer(runtime, software)), 401, "login")


# --- secrets stay out of logs, the journal and the outbox ---------------------------------------


def test_no_assertion_or_token_reaches_a_log_the_journal_or_the_outbox(
    client: TestClient[Any], runtime: Runtime, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "CANARY-7f3a9c1e-do-not-log"
    establishment(runtime)
    key = client_key()
    client_id = register(runtime, key)
    record_id = a_record_for_the_doctor(runtime)
    signed = assertion(runtime, client_id, key, note=canary)
    granted = ask_token(client, signed)  # accepted
    ask_token(client, signed)  # replayed
    header, _, signature = signed.split(".")
    ask_token(client, f"{header}.{assertion(runtime, client_id, key, note=canary + '2').split('.')[1]}.{signature}")
    ask_token(client, signed, act_for="8" + OUTSIDER.id)
    ask_token(client, assertion(runtime, "not-a-client-" + canary, key))
    token = granted.json()["access_token"]
    client.get(f"/fhir/Patient/{record_id}", headers=auth(token))
    client.get(f"/fhir/Patient/{record_id}", headers=auth(token[:-4] + "AAAA"))
    secrets = (canary, signed, token, signature, token.split(".")[2])

    logged = capfd.readouterr()
    texts = [record.getMessage() for record in caplog.records] + [logged.out, logged.err]
    with runtime.sessions() as session:
        journal = session.execute(select(JournalEntry)).scalars().all()
        outbox = session.execute(select(OutboxMessage)).scalars().all()
    texts += [str(getattr(row, column.key)) for row in journal for column in JournalEntry.__table__.columns]
    texts += [str(getattr(row, column.key)) for row in outbox for column in OutboxMessage.__table__.columns]
    assert any("/oauth/token" in text for text in texts)  # the access log was captured…
    assert any(e.reason == "assertion-replayed" for e in journal)  # …and the refusals journaled
    leaks = [secret[:24] for secret in secrets for text in texts if secret in text]
    assert leaks == []


# --- security headers ---------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(client: TestClient[Any], runtime: Runtime) -> None:
    answers = [
        client.get("/"),
        client.get("/healthz"),
        client.get("/metrics"),
        client.get("/fhir/metadata"),
        client.get("/fhir/Patient?identifier=x"),  # 401
        client.get("/nowhere"),  # 404
        client.post("/oauth/token", data={"grant_type": "password"}),  # 400
        client.get("/schema/openapi.json"),
    ]
    for response in answers:
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], response.url
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in headers  # dev mode: plain HTTP on a laptop
    policy = answers[0].headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "object-src 'none'" in policy


def test_binary_keeps_its_own_sandboxing_policy(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    record_id = a_record_for_the_doctor(runtime)
    headers = {**JSON_HEADERS, **bearer(runtime, DOCTOR)}
    filed = client.post("/fhir/DocumentReference", json=document_reference(record_id), headers=headers)
    document_id = filed.json()["id"]
    content = client.get(f"/fhir/Binary/{document_id}", headers=bearer(runtime, DOCTOR))
    assert content.status_code == 200
    assert content.headers["content-security-policy"].startswith("sandbox")
    assert content.headers.get_list("content-security-policy") == [content.headers["content-security-policy"]]
    assert content.headers["x-frame-options"] == "DENY"


def test_hsts_is_sent_outside_dev_mode(runtime: Runtime) -> None:
    # Not entered as a context manager: the shared runtime must outlive this app (no shutdown hook).
    strict = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update={"dev_mode": False}))
    response = TestClient(app=create_app(runtime=strict)).get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=63072000")


def test_an_ec_key_set_with_several_keys_needs_the_kid(client: TestClient[Any], runtime: Runtime) -> None:
    establishment(runtime)
    first, second = client_key(), ECKey.generate_key("P-256", auto_kid=True)
    with unit_of_work(runtime.sessions) as session:
        jwks = json.dumps({"keys": [first.as_dict(private=False), second.as_dict(private=False)]})
        added = clients.add_client(
            session,
            f.OPERATOR,
            clients.ClientIn(HOSPITAL, "LPS", frozenset({"dmp:consultation"}), jwks),
            runtime.clock.now(),
        )
    client_id = str(added.id)
    assert ask_token(client, assertion(runtime, client_id, second)).status_code == 200
    without_kid = jwt.encode(
        {"alg": "ES256"},
        {"iss": client_id, "sub": client_id, "aud": audience(runtime), "exp": int(time.time()) + 60, "jti": "k"},
        second,
        algorithms=["ES256"],
    )
    oauth_error(ask_token(client, without_kid), 401, "invalid_client")
