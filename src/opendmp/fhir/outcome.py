"""The one error mapping of the FHIR edge: every non-2xx answer is an OperationOutcome.

condition → HTTP status → issue code (docs/api/contract.md, "Errors", repeats this table)."""

from __future__ import annotations

from typing import Any

from opendmp.kit.errors import ErrorKind

STATUS_AND_CODE: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.INVALID: (400, "invalid"),
    ErrorKind.UNAUTHENTICATED: (401, "login"),
    ErrorKind.FORBIDDEN: (403, "forbidden"),
    ErrorKind.NOT_FOUND: (404, "not-found"),
    ErrorKind.CONFLICT: (409, "duplicate"),
    ErrorKind.PRECONDITION: (412, "conflict"),
    ErrorKind.BUSINESS_RULE: (422, "business-rule"),
    ErrorKind.TOO_LARGE: (413, "too-costly"),
    ErrorKind.TOO_MANY_REQUESTS: (429, "throttled"),
}

# Statuses raised by the HTTP layer itself (routing, methods, media types, limits).
HTTP_CODES: dict[int, str] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "business-rule",
    429: "throttled",
    500: "exception",
    501: "not-supported",
}


def operation_outcome(
    code: str, diagnostics: str, *, field: str | None = None, severity: str = "error"
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if field:
        # FHIRPath-ish location of the faulty input, so clients can show it next to the field.
        issue["expression"] = [field]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def for_status(status: int, diagnostics: str, *, field: str | None = None) -> dict[str, Any]:
    return operation_outcome(HTTP_CODES.get(status, "processing"), diagnostics, field=field)
