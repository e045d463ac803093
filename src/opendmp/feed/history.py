"""The *Historique de remboursement*, generated on read from the stored claims (decision 0019):
a structured list grouped by visit (date of care + who did it) and by medicine or device, as
JSON (FHIR-friendly: codes with their system, amounts as Money-like objects) and as a printable
PDF. Called by document/service.py once the policy allowed the read of the REMB document."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fpdf import FPDF
from sqlalchemy.orm import Session

from opendmp.document.keystore import KeyStore
from opendmp.document.models import Document
from opendmp.feed import service
from opendmp.feed.claims import MEDICINE_SYSTEMS, Claim
from opendmp.journal.service import iso

JSON_TYPE = "application/json"
PDF_TYPE = "application/pdf"
FORMATS = (JSON_TYPE, PDF_TYPE)


def _euros(cents: int) -> dict[str, Any]:
    return {"value": f"{cents // 100}.{cents % 100:02d}", "currency": "EUR"}


def _who(claim: Claim) -> dict[str, Any]:
    who: dict[str, Any] = {}
    if claim.executant_rpps:
        who["rpps"] = claim.executant_rpps
    if claim.executant_finess:
        who["finess"] = claim.executant_finess
    if claim.executant_name:
        who["name"] = claim.executant_name
    return who


def history(claims: Iterable[Claim], record_id: uuid.UUID, generated_at: datetime) -> dict[str, Any]:
    """Visits newest first, each with its acts; medicines and devices by product, with how many
    dispensings, the total quantity and the first and last dates."""
    visits: dict[tuple[str, str, str], list[Claim]] = {}
    products: dict[tuple[str, str], list[Claim]] = {}
    paid = reimbursed = lines = 0
    for claim in claims:
        lines += 1
        paid += claim.paid_cents
        reimbursed += claim.reimbursed_cents
        if claim.system in MEDICINE_SYSTEMS:
            products.setdefault((claim.system, claim.code), []).append(claim)
        else:
            key = (claim.care_date, claim.executant_rpps or "", claim.executant_finess or "")
            visits.setdefault(key, []).append(claim)
    visit_list = [
        {
            "date": day,
            "executant": _who(acts[0]),
            "acts": [
                {
                    "claimId": c.claim_id,
                    "code": {"system": c.system, "code": c.code, "display": c.label},
                    "quantity": c.quantity,
                    **({"prescriber": {"rpps": c.prescriber_rpps}} if c.prescriber_rpps else {}),
                    "paid": _euros(c.paid_cents),
                    "reimbursed": _euros(c.reimbursed_cents),
                }
                for c in sorted(acts, key=lambda c: (c.system, c.code, c.claim_id))
            ],
            "paid": _euros(sum(c.paid_cents for c in acts)),
            "reimbursed": _euros(sum(c.reimbursed_cents for c in acts)),
        }
        for (day, _, _), acts in sorted(visits.items(), key=lambda item: item[0], reverse=True)
    ]
    product_list = []
    for (system, code), items in sorted(
        products.items(), key=lambda item: max(c.care_date for c in item[1]), reverse=True
    ):
        dates = sorted(c.care_date for c in items)
        product_list.append(
            {
                "code": {"system": system, "code": code, "display": items[-1].label},
                "dispensings": len(items),
                "quantity": sum(c.quantity for c in items),
                "first": dates[0],
                "last": dates[-1],
                "dates": dates,
                "paid": _euros(sum(c.paid_cents for c in items)),
                "reimbursed": _euros(sum(c.reimbursed_cents for c in items)),
            }
        )
    return {
        "title": service.HISTORY_TITLE,
        "subject": {"reference": f"Patient/{record_id}"},
        "generated": iso(generated_at),
        "lines": lines,
        "paid": _euros(paid),
        "reimbursed": _euros(reimbursed),
        "visits": visit_list,
        "medicines": product_list,
    }


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def to_pdf(content: dict[str, Any]) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(content["title"])
    pdf.set_creator("OpenDMP")
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def line(text: str, size: int = 9, style: str = "", height: float = 4.5) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, height, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    line(content["title"], 16, "B", 8)
    line(
        f"{content['lines']} lignes - payé {content['paid']['value']} EUR, "
        f"remboursé {content['reimbursed']['value']} EUR - édité le {content['generated'][:10]}"
    )
    pdf.ln(3)
    line("Soins et actes, par visite", 12, "B", 6)
    for visit in content["visits"]:
        who = visit["executant"]
        name = who.get("name") or who.get("rpps") or who.get("finess") or ""
        line(f"{visit['date']}  {name}  (remboursé {visit['reimbursed']['value']} EUR)", 9, "B")
        for act in visit["acts"]:
            code = act["code"]
            line(
                f"    {code['system']} {code['code']}  {code['display']}  x{act['quantity']}  "
                f"payé {act['paid']['value']}  remboursé {act['reimbursed']['value']}"
            )
    pdf.ln(3)
    line("Médicaments et dispositifs", 12, "B", 6)
    for product in content["medicines"]:
        code = product["code"]
        line(
            f"{code['system']} {code['code']}  {code['display']}: {product['dispensings']} délivrance(s), "
            f"{product['quantity']} unité(s), du {product['first']} au {product['last']}, "
            f"remboursé {product['reimbursed']['value']} EUR"
        )
    return bytes(pdf.output())


@dataclass(frozen=True, slots=True)
class Rendered:
    mime_type: str
    content: bytes


def render(session: Session, keys: KeyStore, document: Document, mime_type: str, now: datetime) -> Rendered:
    """The REMB document's content in the asked format (JSON unless PDF is asked)."""
    content = history(service.claims_of(session, keys, document.record_id), document.record_id, now)
    if mime_type == PDF_TYPE:
        return Rendered(PDF_TYPE, to_pdf(content))
    return Rendered(JSON_TYPE, json.dumps(content, ensure_ascii=False, indent=1).encode())
