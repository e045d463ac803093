"""The FHIR edge's error mapping, installed app-wide: under /fhir every failure becomes an
OperationOutcome with the status of the error table; elsewhere a short JSON or text answer."""

from __future__ import annotations

import traceback
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException

from opendmp.auth.tokens import TokenRefused
from opendmp.fhir.json import FHIR_JSON, UnsupportedMediaType, encode
from opendmp.fhir.outcome import STATUS_AND_CODE, for_status, operation_outcome
from opendmp.kit.errors import DomainError, ErrorKind, TooManyRequests
from opendmp.kit.logging import get_logger

log = get_logger("opendmp.errors")


def _answer(
    request: Request[Any, Any, Any], status: int, outcome: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    headers = {"Cache-Control": "no-store", **(headers or {})}
    if status == 401:
        # RFC 6750 §3.1: no error code when no token was given, invalid_token for a bad one.
        headers.setdefault("WWW-Authenticate", 'Bearer realm="opendmp"')
    if request.url.path.startswith("/fhir"):
        return Response(content=encode(outcome), status_code=status, media_type=FHIR_JSON, headers=headers)
    message = outcome["issue"][0].get("diagnostics", "")
    return Response(
        content={"status": status, "detail": message}, status_code=status, media_type=MediaType.JSON, headers=headers
    )


def domain_error(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
    status, code = STATUS_AND_CODE[error.kind]
    message = "no such resource" if error.kind is ErrorKind.NOT_FOUND else error.message
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, TooManyRequests) else None
    if isinstance(error, TokenRefused):
        headers = {"WWW-Authenticate": 'Bearer realm="opendmp", error="invalid_token"'}
    outcome = operation_outcome(code, message, field=error.field)
    fields = getattr(error, "fields", None)  # several faulty inputs (content.errors.MissingAnswers): one issue each
    if fields:
        outcome["issue"] = [
            {
                "severity": "error",
                "code": "required",
                "diagnostics": f"missing mandatory answer: {f}",
                "expression": [f],
            }
            for f in fields
        ]
    return _answer(request, status, outcome, headers)


def unsupported_media(request: Request[Any, Any, Any], error: UnsupportedMediaType) -> Response[Any]:
    return _answer(request, 415, for_status(415, str(error)))


def http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    status = error.status_code
    detail = error.detail if status < 500 else "internal error"
    if status == 400 and isinstance(error.extra, dict | list) and error.extra:
        detail = f"{detail}: {error.extra}"
    return _answer(request, status, for_status(status, str(detail)), dict(error.headers or {}))


def unexpected_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    # The message may hold health data (a driver error quotes its SQL parameters): log the type,
    # the route and the code frames, never the message.
    frames = "".join(traceback.format_tb(error.__traceback__)[-6:])
    log.error("unhandled error", error_type=type(error).__name__, path=request.url.path, frames=frames)
    return _answer(request, 500, for_status(500, "internal error; it has been logged"))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error,
    UnsupportedMediaType: unsupported_media,
    HTTPException: http_error,
    Exception: unexpected_error,
}
