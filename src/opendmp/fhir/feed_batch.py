"""The establishment feed on the FHIR edge: a `batch` Bundle whose entries are ITI-65 transaction
Bundles (`request: {method: POST, url: Bundle}`), answered by a `batch-response` with each
bundle's status and, for a filed one, its transaction-response (docs/api/contract.md,
"Establishment feeds")."""

from __future__ import annotations

from typing import Any

from litestar import Response

from opendmp.establishment import service as feeds
from opendmp.fhir.mhd import result_entry
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
