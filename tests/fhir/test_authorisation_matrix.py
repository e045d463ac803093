"""The authorisation matrix: every FHIR route that takes a record's or a document's id, asked by
every kind of actor in every relationship to the record, answers exactly what the policy says,
and no refused answer carries a byte of the document, its title or even its id.

Relationships: the holder; another person (holder of another record); professionals who are
authorised, never authorised, blocked, revoked, past their access window, or authorised on
another record only; the insurer's feed; a counter agent; an operator; nobody (no token).
Routes that change state run last, in an order where no answer depends on an earlier change."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from opendmp.consent import repository as consent_repo
from opendmp.consent import service as consents
from opendmp.identity.actor import Actor
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.conftest import bearer
from tests.fhir.test_document_api import JSON_HEADERS, document_reference

SECRET = b"%PDF-1.4\n% SENTINEL-CONTENT-91c4e2\n%%EOF\n"
SECRET_TITLE = "TITRE-SECRET-5d1f"
LOINC_HBA1C = "http://loinc.org|4548-4"

AUTHOR = Actor.professional("10000000003", "10")
PEOPLE = {
    "authorised": Actor.professional("10000000011", "10"),
    "not-authorised": Actor.professional("10000000012", "10"),
    "blocked": Actor.professional("10000000013", "10"),
    "revoked": Actor.professional("10000000014", "10"),
    "expired": Actor.professional("10000000015", "10"),
    "other-record": Actor.professional("10000000016", "10"),
    "insurer": Actor.insurer_feed(),
    "counter": Actor.counter_agent("agent-cpam", "750000002"),
    "operator": Actor.operator("ops"),
}
RELATIONS = ["holder", "other-patient", *PEOPLE, "anonymous"]
LOOKERS = {"holder", "authorised", "not-authorised", "revoked", "expired", "other-record", "counter", "operator"}
READERS = {"holder", "authorised"}
PROFESSIONALS_SEEING_THE_RECORD = {"authorised", "not-authorised", "revoked", "expired", "other-record"}


def expected(route: str, relation: str) -> int:
    """The policy's answer, written out by hand (not computed by the code under test)."""
    if relation == "anonymous":
        return 401
    if route == "read-patient":
        return 200 if relation in LOOKERS else 404
    if route in ("read-document", "read-binary"):
        return 200 if relation in READERS else 404
    if route in ("search-documents", "recent-exam"):
        return 200 if relation in LOOKERS else 404  # the list is filtered: see the leak check
    if route in ("search-journal", "search-consents", "read-consent"):
        return 200 if relation == "holder" else 404
    if route == "patch-document":  # masking: the holder's own choice
        return 200 if relation == "holder" else 403 if relation == "authorised" else 404
    if route == "delete-document":  # the author's only
        return 403 if relation in READERS else 404
    if route == "revoke-consent":
        return 200 if relation == "holder" else 404
    if route == "emergency-access":  # doctors facing an emergency, unless blocked
        if relation in PROFESSIONALS_SEEING_THE_RECORD:
            return 200
        return 403 if relation in ("holder", "counter", "operator") else 404
    raise AssertionError(route)


@pytest.fixture
def world(client: TestClient[Any], runtime: Runtime, clock: FrozenClock) -> dict[str, Any]:
    holder, traits = f.person()
    other, other_traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent"), holder, traits).record.id
    other_record = f.open_record(runtime, Actor.counter_agent("agent"), other, other_traits).record.id
    f.authorise(runtime, record_id, AUTHOR)
    for name in ("authorised", "blocked", "revoked"):
        f.authorise(runtime, record_id, PEOPLE[name])
    f.add_professional(runtime, PEOPLE["expired"].id, "10")
    f.authorise(runtime, other_record, PEOPLE["other-record"])
    spare = Actor.professional("10000000017", "10")
    f.authorise(runtime, record_id, spare)  # its consent is the one revoked by the matrix
    f.add_professional(runtime, PEOPLE["not-authorised"].id, "10")
    with unit_of_work(runtime.sessions) as session:
        now = runtime.clock.now()
        consents.block(session, Actor.patient(holder), record_id, PEOPLE["blocked"].id, now)
        consents.revoke(session, Actor.patient(holder), record_id, PEOPLE["revoked"].id, now)
        consents.authorise(session, Actor.patient(holder), record_id, PEOPLE["expired"].id, now, window_days=1)
        spare_consent = consent_repo.active_authorisations(session, record_id, spare.id)[0].id
    resource = document_reference(record_id, SECRET, title=SECRET_TITLE)
    resource["content"][0]["attachment"]["title"] = SECRET_TITLE
    resource["type"] = {"coding": [{"system": "http://loinc.org", "code": "11502-2"}]}  # a biology report
    response = client.post(
        "/fhir/DocumentReference", json=resource, headers={**JSON_HEADERS, **bearer(runtime, AUTHOR)}
    )
    assert response.status_code == 201, response.text
    clock.advance(timedelta(days=2))  # the 1-day window has closed; the others run a year
    return {
        "holder": holder,
        "other": other,
        "record": record_id,
        "document": response.json()["id"],
        "consent": spare_consent,
    }


def actor_of(relation: str, world: dict[str, Any]) -> Actor | None:
    if relation == "holder":
        return Actor.patient(world["holder"])
    if relation == "other-patient":
        return Actor.patient(world["other"])
    return PEOPLE.get(relation)


def call(client: TestClient[Any], runtime: Runtime, route: str, actor: Actor | None, world: dict[str, Any]) -> Any:
    headers = bearer(runtime, actor) if actor is not None else {}
    record, document = world["record"], world["document"]
    mask = [
        {
            "op": "add",
            "path": "/securityLabel/-",
            "value": {
                "coding": [
                    {
                        "system": "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/"
                        "TRE-A07-StatusVisibiliteDocument",
                        "code": "MASQUE_PS",
                    }
                ]
            },
        }
    ]
    patch_headers = {**headers, "Content-Type": "application/json-patch+json"}
    match route:
        case "read-patient":
            return client.get(f"/fhir/Patient/{record}", headers=headers)
        case "read-document":
            return client.get(f"/fhir/DocumentReference/{document}", headers=headers)
        case "read-binary":
            return client.get(f"/fhir/Binary/{document}", headers={**headers, "Accept": "application/pdf"})
        case "search-documents":
            return client.get("/fhir/DocumentReference", params={"patient": str(record)}, headers=headers)
        case "recent-exam":
            return client.get(
                f"/fhir/Patient/{record}/$recent-exam", params={"code": LOINC_HBA1C, "days": "3650"}, headers=headers
            )
        case "search-journal":
            return client.get("/fhir/AuditEvent", params={"patient": str(record)}, headers=headers)
        case "search-consents":
            return client.get("/fhir/Consent", params={"patient": str(record)}, headers=headers)
        case "read-consent":
            return client.get(f"/fhir/Consent/{world['consent']}", headers=headers)
        case "patch-document":
            return client.patch(f"/fhir/DocumentReference/{document}", content=json.dumps(mask), headers=patch_headers)
        case "delete-document":
            return client.delete(f"/fhir/DocumentReference/{document}", headers=headers)
        case "revoke-consent":
            revoke = [{"op": "replace", "path": "/status", "value": "inactive"}]
            return client.patch(f"/fhir/Consent/{world['consent']}", content=json.dumps(revoke), headers=patch_headers)
        case "emergency-access":
            parameters = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "inconscient"}]}
            return client.post(
                f"/fhir/Patient/{record}/$emergency-access", json=parameters, headers={**headers, **JSON_HEADERS}
            )
    raise AssertionError(route)


# Read-only routes first; then changes, each placed so that no later answer depends on it: the
# holder masks last among the document routes, the holder revokes the spare consent only, and
# emergency access (which opens reading to whoever gets it) comes at the very end.
READ_ONLY = [
    "read-patient",
    "read-document",
    "read-binary",
    "search-documents",
    "recent-exam",
    "search-journal",
    "search-consents",
    "read-consent",
]
CHANGES = ["delete-document", "patch-document", "revoke-consent", "emergency-access"]


def test_every_route_answers_every_actor_as_the_policy_says_and_leaks_nothing(
    client: TestClient[Any], runtime: Runtime, world: dict[str, Any]
) -> None:
    forbidden = [SECRET, SECRET_TITLE.encode(), base64.b64encode(SECRET)]
    document_id = world["document"].encode()
    seen: list[tuple[str, str, int, int]] = []
    for route in [*READ_ONLY, *CHANGES]:
        order = sorted(RELATIONS, key=lambda r: r == "holder") if route in CHANGES else RELATIONS
        for relation in order:
            response = call(client, runtime, route, actor_of(relation, world), world)
            seen.append((route, relation, expected(route, relation), response.status_code))
            may_read = relation in READERS and route not in ("delete-document", "revoke-consent", "emergency-access")
            if not may_read:
                for secret in forbidden:
                    assert secret not in response.content, (route, relation)
            if route in ("search-documents", "recent-exam", "emergency-access") and relation not in READERS:
                assert document_id not in response.content, (route, relation)
            if response.status_code >= 400:
                assert response.json()["resourceType"] == "OperationOutcome", (route, relation)
    wrong = [(route, relation, want, got) for route, relation, want, got in seen if want != got]
    assert wrong == [], wrong
    assert len(seen) == len(RELATIONS) * (len(READ_ONLY) + len(CHANGES))


def test_the_readers_get_the_real_content(client: TestClient[Any], runtime: Runtime, world: dict[str, Any]) -> None:
    for relation in READERS:
        response = call(client, runtime, "read-binary", actor_of(relation, world), world)
        assert response.content == SECRET
        listed = call(client, runtime, "search-documents", actor_of(relation, world), world).json()
        assert [e["resource"]["id"] for e in listed["entry"]] == [world["document"]]
