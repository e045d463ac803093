"""The patient's choices about their record: preferences (the three emergency switches, masking
new documents by default, the default access window, notification channels), downloading
everything (a ZIP streamed: each document's file and a FHIR Bundle of their DocumentReferences),
and closing the record or asking for its deletion, with what happens next said plainly.

Like the other patient pages (record_pages): the record in the path, the services decide and
journal; search and choices in POST bodies."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Stream
from sqlalchemy.orm import Session

from opendmp.auth.account_models import SessionStage
from opendmp.consent import service as consents
from opendmp.document import service as documents
from opendmp.document.content import CDA_TYPES
from opendmp.fhir import document as fhir_document
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import DomainError
from opendmp.kit.threads import threaded
from opendmp.notify import service as notify
from opendmp.notify.models import Category, ChannelKind
from opendmp.notify.service import ALWAYS_ON
from opendmp.record import service as records
from opendmp.record.models import RecordStatus
from opendmp.web.document_pages import EXTENSIONS
from opendmp.web.patient_pages import MAX_FORM_BYTES, Form, Page, _posted, address_of, edge_of
from opendmp.web.record_pages import Holder, _error_message, _holder, _missing, _patient, _render

CATEGORIES = {
    Category.NEW_DOCUMENT: "Un nouveau document est ajouté",
    Category.FIRST_ACCESS: "Un professionnel consulte mon dossier pour la première fois",
    Category.EMERGENCY_ACCESS: "Un accès en urgence a lieu (toujours notifié)",
    Category.CONSENT_CHANGE: "Les accès à mon dossier changent",
}
WINDOWS = ("0", "3", "30", "90", "180", "365")
# Documents fetched per search while the archive is built (each search is journaled).
EXPORT_PAGE = 200


def _posted_holder(page: Page, data: dict[str, Any], record_text: str) -> Holder | Response[str]:
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    actor = found[1].actor.at(address_of(page.request))
    with unit_of_work(page.edge.runtime.sessions) as db:
        holder = _holder(page, db, actor, record_text)
    if holder is None or actor.kind.value != "patient":
        return _missing(page)
    return holder


def _get_holder(page: Page, record_text: str) -> Holder | Response[str]:
    actor = _patient(page)
    if isinstance(actor, Response):
        return actor
    with unit_of_work(page.edge.runtime.sessions) as db:
        holder = _holder(page, db, actor, record_text)
    return _missing(page) if holder is None else holder


def holder_page(
    request: Request[Any, Any, Any], record_text: str, render: Callable[[Page, Holder, Session], Response[str]]
) -> Response[str]:
    """A page of one of the login's records, rendered in one transaction; a record that is not
    theirs (or no longer readable) answers as a missing one."""
    page = Page(edge_of(request), request)
    holder = _get_holder(page, record_text)
    if isinstance(holder, Response):
        return holder
    try:
        with unit_of_work(page.edge.runtime.sessions) as db:
            return render(page, holder, db)
    except DomainError:
        return _missing(page)


# ---------------------------------------------------------------- preferences


def _preferences(
    page: Page,
    holder: Holder,
    db: Session,
    status: int = 200,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response[str]:
    now = page.edge.runtime.clock.now()
    record_id = holder.record.record_id
    view = consents.consents_of(db, holder.actor, record_id, now)  # the holder's alone (journaled)
    prefs = view.preferences
    chosen = notify.preferences_of(db, record_id)
    contacts = notify.contacts_of(db, record_id)
    _ = page._
    return _render(
        page,
        holder,
        "record_preferences.html",
        status,
        title=_("Mes préférences"),
        notice=notice,
        errors=errors or {},
        samu=prefs.samu_allowed if prefs else True,
        break_glass=prefs.break_glass_allowed if prefs else True,
        masked_in_emergency=prefs.masked_in_emergency if prefs else True,
        mask_new=prefs.mask_new_documents if prefs else False,
        window=str(prefs.default_window_days) if prefs and prefs.default_window_days is not None else "",
        windows=[(w, _("Le jour même") if w == "0" else _("{n} jours", n=w)) for w in WINDOWS],
        categories=[
            {
                "code": category.value,
                "label": _(label),
                # Without a choice the defaults apply: every verified channel.
                "email": chosen[category] is None or ChannelKind.EMAIL in (chosen[category] or ()),
                "sms": chosen[category] is None or ChannelKind.SMS in (chosen[category] or ()),
            }
            for category, label in CATEGORIES.items()
        ],
        contacts=[
            {"channel": c.channel, "address": notify.mask_address(c.address), "verified": c.verified_at is not None}
            for c in contacts
            if c.person == "holder"
        ],
    )


@get("/dossiers/{record_id:str}/preferences", include_in_schema=False)
@threaded
def preferences_page(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    return holder_page(request, record_id, _preferences)


@post(
    "/dossiers/{record_id:str}/preferences",
    status_code=200,
    include_in_schema=False,
    request_max_body_size=MAX_FORM_BYTES,
)
@threaded
def preferences_change(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    """`operation=acces`: the switches, default masking and window; `operation=notifications`:
    the channels of each category. Unchecked boxes are sent as nothing: they mean "off"."""
    page = Page(edge_of(request), request)
    holder = _posted_holder(page, data, record_id)
    if isinstance(holder, Response):
        return holder
    runtime = page.edge.runtime
    now = runtime.clock.now()
    record = holder.record.record_id
    _ = page._
    operation = data.get("operation")
    try:
        with unit_of_work(runtime.sessions) as db:
            if operation == "acces":
                window = str(data.get("duree") or "")
                if window and window not in WINDOWS:
                    return _preferences(page, holder, db, 400, errors={"duree": _("Choisissez une durée de la liste.")})
                consents.set_preferences(
                    db,
                    holder.actor,
                    record,
                    now,
                    samu=data.get("samu") == "1",
                    break_glass=data.get("bris_de_glace") == "1",
                    masked_in_emergency=data.get("masques_en_urgence") == "1",
                    mask_new_documents=data.get("masquer_nouveaux") == "1",
                    default_window_days=int(window) if window else None,
                )
                notice = _("Vos préférences d'accès sont enregistrées.")
            elif operation == "notifications":
                chosen = {
                    category: [c for c in ChannelKind if data.get(f"{category.value}-{c.value}") == "1"]
                    for category in CATEGORIES
                }
                silenced = [c for c in ALWAYS_ON if c in chosen and not chosen[c]]
                if silenced:
                    message = _("Les accès en urgence vous sont toujours notifiés : gardez au moins un moyen.")
                    return _preferences(page, holder, db, 400, errors={silenced[0].value: message})
                for category, channels in chosen.items():
                    notify.set_preference(db, holder.actor, record, category, channels, now)
                notice = _("Vos préférences de notification sont enregistrées.")
            else:
                return _missing(page)
    except DomainError as error:
        with unit_of_work(runtime.sessions) as db:
            return _preferences(page, holder, db, 400, errors={"form": _error_message(page, error)})
    with unit_of_work(runtime.sessions) as db:
        return _preferences(page, holder, db, notice=notice)


# ---------------------------------------------------------------- download everything


class _Pipe(io.RawIOBase):
    """What zipfile writes, handed on as it comes (the archive is never whole in memory)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def _archive(
    page: Page, found: list[documents.StoredDocument], made: dict[uuid.UUID, documents.Content], bundle: bytes
) -> Iterator[bytes]:
    """`made`: the generated documents' content (the reimbursement history as its PDF), read in
    the transaction; the stored ones are decrypted here, as the archive is written."""
    vault = page.edge.runtime.vault
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dossier-fhir.json", bundle)
        yield pipe.drain()
        for number, stored in enumerate(found, start=1):
            document = stored.document
            generated = made.get(document.id)
            mime = generated.mime_type if generated is not None else document.mime_type
            extension = EXTENSIONS.get(mime, "xml" if mime in CDA_TYPES else "bin")
            day = (document.created_at or document.submitted_at).date().isoformat()
            name = f"documents/{number:04d}-{day}-{document.id}.{extension}"
            with archive.open(name, "w", force_zip64=True) as entry:
                for chunk in generated.chunks if generated is not None else vault.open(document):
                    entry.write(chunk)
                    yield pipe.drain()
    yield pipe.drain()


@post(
    "/dossiers/{record_id:str}/telechargement",
    status_code=200,
    include_in_schema=False,
    request_max_body_size=MAX_FORM_BYTES,
)
@threaded
def download_everything(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[Any]:
    """Each document is read through the document service (access decided, read journaled) in
    one transaction before the first byte is sent; the bytes are then decrypted as they go."""
    page = Page(edge_of(request), request)
    holder = _posted_holder(page, data, record_id)
    if isinstance(holder, Response):
        return holder
    runtime = page.edge.runtime
    now = runtime.clock.now()
    record = holder.record.record_id
    base = f"{request.base_url}".rstrip("/")
    found: list[documents.StoredDocument] = []
    made: dict[uuid.UUID, documents.Content] = {}
    try:
        with unit_of_work(runtime.sessions) as db:
            offset, total = 0, 1
            while offset < total:
                listed, total = documents.search_documents(
                    db, holder.actor, record, documents.DocumentQuery(offset=offset, count=EXPORT_PAGE), now
                )
                if not listed:
                    break
                for listed_one in listed:
                    document_id = listed_one.document.id
                    if listed_one.document.blob_key.startswith(documents.GENERATED_PREFIX):
                        content = documents.read_content_as(
                            db, holder.actor, document_id, now, runtime.vault, mime_type="application/pdf"
                        )
                        made[document_id] = content
                        found.append(documents.StoredDocument(content.document, listed_one.authors, created=False))
                    else:
                        found.append(
                            documents.get_document(db, holder.actor, document_id, now, action="document:read-content")
                        )
                offset += len(listed)
    except DomainError:
        return _missing(page)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": now.astimezone(UTC).isoformat(),
        "total": len(found),
        "entry": [
            {
                "fullUrl": f"{base}/fhir/DocumentReference/{s.document.id}",
                "resource": fhir_document.to_fhir(s.document, s.authors, base),
            }
            for s in found
        ],
    }
    payload = json.dumps(bundle, ensure_ascii=False, indent=1).encode()
    name = f"dossier-{now.astimezone(UTC):%Y%m%d}.zip"
    return Stream(
        _archive(page, found, made, payload),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# ---------------------------------------------------------------- closing, deletion


def _closing(
    page: Page,
    holder: Holder,
    db: Session,
    status: int = 200,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response[str]:
    now = page.edge.runtime.clock.now()
    found = records.get_record(db, holder.actor, holder.record.record_id, now)
    record = found.record
    return _render(
        page,
        holder,
        "record_closing.html",
        status,
        title=page._("Fermer mon dossier"),
        notice=notice,
        errors=errors or {},
        status_code=record.status,
        open=record.status in (RecordStatus.ACTIVE.value, RecordStatus.PENDING_OBJECTION.value),
        closed=record.status == RecordStatus.CLOSED.value,
        deletion=record.status == RecordStatus.DELETION_REQUESTED.value,
        purge_after=record.purge_after,
        deletion_due=record.deletion_due,
    )


@get("/dossiers/{record_id:str}/fermeture", include_in_schema=False)
@threaded
def closing_page(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    return holder_page(request, record_id, _closing)


@post(
    "/dossiers/{record_id:str}/fermeture",
    status_code=200,
    include_in_schema=False,
    request_max_body_size=MAX_FORM_BYTES,
)
@threaded
def closing_change(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    """`operation=fermer|supprimer|rouvrir`; closing and deletion need the box "I understand"."""
    page = Page(edge_of(request), request)
    holder = _posted_holder(page, data, record_id)
    if isinstance(holder, Response):
        return holder
    runtime = page.edge.runtime
    now = runtime.clock.now()
    record = holder.record.record_id
    operation = data.get("operation")
    _ = page._
    if operation in ("fermer", "supprimer") and data.get("confirmation") != "1":
        with unit_of_work(runtime.sessions) as db:
            return _closing(
                page,
                holder,
                db,
                400,
                errors={f"confirmation-{operation}": _("Cochez la case pour confirmer que vous avez compris.")},
            )
    try:
        with unit_of_work(runtime.sessions) as db:
            if operation == "fermer":
                records.close_record(db, holder.actor, record, now)
                notice = _("Votre dossier est fermé. Il est archivé et vous pouvez le rouvrir à tout moment.")
            elif operation == "supprimer":
                records.request_deletion(db, holder.actor, record, now)
                notice = _("Votre demande de suppression est enregistrée.")
            elif operation == "rouvrir":
                records.reopen_record(db, holder.actor, record, now)
                notice = _("Votre dossier est rouvert.")
            else:
                return _missing(page)
    except DomainError as error:
        with unit_of_work(runtime.sessions) as db:
            return _closing(page, holder, db, 409, errors={"form": _error_message(page, error)})
    with unit_of_work(runtime.sessions) as db:
        return _closing(page, holder, db, notice=notice)


ROUTES = [
    preferences_page,
    preferences_change,
    download_everything,
    closing_page,
    closing_change,
]
