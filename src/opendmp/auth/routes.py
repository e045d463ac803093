"""POST /oauth/token: the OAuth2 edge for software clients. It owns the transaction and answers
in RFC 6749 terms (JSON `error` / `error_description`, never an OperationOutcome: OAuth2
clients read these); the rules are in auth/oauth.py. Refusals count per source address (the
process's AddressLimiter): past the limit a refusal answers 429 with Retry-After and its journal
entry is rolled back, so that no one can grow the system chain at will."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from litestar import MediaType, Request, Response, post
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import RawBody

from opendmp.auth import oauth
from opendmp.kit.db import unit_of_work
from opendmp.kit.threads import threaded
from opendmp.runtime import Runtime

MAX_FORM_BYTES = 16 * 1024
# RFC 6749 §5.1: token answers, and refusals, are never stored by caches.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class TokenOperation(Operation):
    """The form body, described for clients and for the schemathesis run of the test suite (the
    handler reads the raw body so that every malformed request gets an RFC 6749 answer)."""

    def __post_init__(self) -> None:
        string = Schema(type=OpenAPIType.STRING)
        schema = Schema(
            type=OpenAPIType.OBJECT,
            required=["grant_type", "client_assertion_type", "client_assertion", "act_for"],
            properties={name: string for name in oauth.PARAMETERS},
        )
        self.request_body = RequestBody(
            content={"application/x-www-form-urlencoded": OpenAPIMediaType(schema=schema)}, required=True
        )
        self.description = (
            "OAuth2 client credentials with private_key_jwt (RFC 7523). act_for is the professional the "
            "software acts for: 8 followed by the 11-digit RPPS. See docs/api/contract.md, Tokens."
        )


def _answer(status: int, content: dict[str, Any], headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=json.dumps(content).encode(),
        status_code=status,
        media_type=MediaType.JSON,
        headers={**NO_STORE, **(headers or {})},
    )


def _refusal(error: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> Response[bytes]:
    return _answer(status, {"error": error, "error_description": description}, headers)


class _Throttled(Exception):
    """A refusal over the address's limit: raised inside the transaction to roll its entry back."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds


@post(
    oauth.TOKEN_PATH,
    status_code=200,
    operation_class=TokenOperation,
    request_max_body_size=MAX_FORM_BYTES,
    tags=["OAuth2"],
)
@threaded
def token(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """Exchange a signed client assertion for an access token of at most 15 minutes."""
    runtime: Runtime = request.app.state.runtime
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return _refusal("invalid_request", "send the parameters as application/x-www-form-urlencoded")
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=2 * len(oauth.PARAMETERS))
    except UnicodeDecodeError:
        return _refusal("invalid_request", "the form body is not UTF-8")
    except ValueError:
        return _refusal("invalid_request", "too many parameters")
    grant: oauth.Grant | None = None
    refused: oauth.OAuthError | None = None
    address = request.client.host if request.client else None
    try:
        with unit_of_work(runtime.sessions) as session:
            try:
                grant = oauth.grant_client_credentials(
                    session,
                    runtime.keys,
                    form,
                    audience=oauth.token_endpoint(runtime.settings.public_base_url),
                    now=time.time(),
                    at=runtime.clock.now(),
                    source_address=address,
                )
            except oauth.OAuthError as error:
                if (wait := runtime.address_limiter.hit(address, "refused-token")) is not None:
                    raise _Throttled(wait.seconds) from error
                refused = error  # the refusal's journal entry (and the used jti) commit with the block
    except _Throttled as throttled:
        # RFC 6749 has no error code for this; slow_down is RFC 8628's, the nearest in meaning.
        description = "too many refused requests from this address: try again later"
        return _refusal("slow_down", description, 429, {"Retry-After": str(throttled.seconds)})
    if grant is None:
        assert refused is not None
        return _refusal(refused.error, refused.description, refused.status)
    return _answer(
        200,
        {
            "access_token": grant.access_token,
            "token_type": "Bearer",
            "expires_in": grant.expires_in,
            "scope": grant.scope,
        },
    )


ROUTES = [token]
