"""The establishment feed on the FHIR edge: a `batch` Bundle whose entries are ITI-65 transaction
Bundles (`request: {method: POST, url: Bundle}`), answered by a `batch-response` with each
bundle's status and, for a filed one, its transaction-response (docs/api/contract.md,
"Establishment feeds")."""

from __future__ import annotations

from typing import Any

from litestar import Response

from opendmp.establishment import service as feeds
from opendmp.fhir.mhd import REASONS, error_entry
from opendmp.fhir.outcome import for_status
from opendmp.fhir.routes import fhir_response
from opendmp.identity.actor import Actor
from opendmp.kit.errors import InvalidInput
from opendmp.runtime import Runtime


def batch_entries(batch: dict[str, Any]) -> list[Any]:
    """The bundles of a batch; an entry that is not a POST of a Bundle becomes its own error."""
    entries = batch.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput("the batch has no entry", field="Bundle.entry")
    bundles: list[Any] = []
    for index, entry in enumerate(entries):
        request = entry.get("request") if isinstance(entry, dict) else None
        url = str(request.get("url") or "").strip("/") if isinstance(request, dict) else None
        if not isinstance(request, dict) or request.get("method") != "POST" or url not in ("", "Bundle"):
            bundles.append(
                InvalidInput(
                    "each batch entry POSTs an ITI-65 transaction Bundle (request.method POST, request.url Bundle)",
                    field=f"Bundle.entry[{index}].request",
                )
            )
        else:
            bundles.append(entry.get("resource"))
    return bundles


def result_entry(result: feeds.BundleResult) -> dict[str, Any]:
    """One batch-response entry: 201 with the transaction-response for a bundle filed now, 200
    with the earlier one for a retry, the error's status and OperationOutcome otherwise."""
    if result.response is not None:
        status = 200 if result.replayed else 201
        entry: dict[str, Any] = {"resource": result.response, "response": {"status": f"{status} {REASONS[status]}"}}
        if result.replayed:
            entry["response"]["outcome"] = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "information",
                        "code": "informational",
                        "diagnostics": "this bundle was already filed: the earlier result is returned",
                    }
                ],
            }
        return entry
    if result.unexpected or result.error is None:
        return {"response": {"status": "500", "outcome": for_status(500, "internal error; it has been logged")}}
    return error_entry(result.error)


def answer_batch(runtime: Runtime, actor: Actor, batch: dict[str, Any]) -> Response[bytes]:
    bundles = batch_entries(batch)
    results = feeds.submit_batch(
        runtime.sessions,
        actor,
        bundles,
        runtime.clock.now(),
        runtime.vault,
        max_size=runtime.settings.max_document_bytes,
    )
    return fhir_response(
        {"resourceType": "Bundle", "type": "batch-response", "entry": [result_entry(r) for r in results]}
    )

