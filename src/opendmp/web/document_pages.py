"""The document viewer, shared by every logged-in actor (patient, professional, counter agent…):
one session machinery (patient_pages._current), and the document services decide what each may
see (a refused read answers like a missing document, and is journaled by the service).

- `GET /documents/{id}`: the metadata, then the content: images and text in a sandboxed frame,
  PDF in a sandboxed frame with an "open" and a "download" link, CDA R2 rendered readably on the
  server (web/cda_view.py), anything else offered as a download.
- `GET /documents/{id}/contenu`: the raw bytes, streamed, decrypted and verified as they go,
  under a sandboxing CSP (the content never runs in the portal's origin), `nosniff`, and as an
  attachment for every type a browser could run (only PDF, JPEG, PNG and plain text are shown
  inline). `?telecharger=1` asks for the attachment whatever the type.
- `GET /documents/{id}/contenu/corps`: what a CDA's non-XML body wraps (PDF, image, text), the
  same way.
- `POST /documents/{id}/masquage`: the holder masks or unmasks a document (MASQUE_PS)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Stream
from sqlalchemy.orm import Session

from opendmp.auth.account_models import SessionStage
from opendmp.document import codes
from opendmp.document import service as documents
from opendmp.document.cda import MAX_CDA_BYTES, read_header
from opendmp.document.content import CDA_TYPES
from opendmp.fhir.document_routes import _grouped
from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.professions import profession_label
from opendmp.journal import repository as journal_repo
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import DomainError, ErrorKind
from opendmp.kit.ids import parse_id
from opendmp.kit.threads import threaded
from opendmp.web import cda_view, i18n
from opendmp.web.patient_pages import MAX_FORM_BYTES, Form, Page, _current, _posted, address_of, edge_of

# Shown inline (in a sandboxed frame or an <img>); every other type is a download.
INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "text/plain"})
# The content of a document is someone else's bytes: in its own opaque origin (sandbox without
# allow-same-origin), no script, nothing loaded from anywhere, framed only by the portal's pages.
CONTENT_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "text/plain": "txt",
    "application/fhir+json": "json",
}
# What the patient reads for the class codes (JDV_J57-ClassCode-DMP), French first.
CATEGORY_LABELS = {
    "10": "Comptes rendus",
    "11": "Synthèses",
    "31": "Imagerie médicale",
    "42": "Prescriptions",
    "43": "Dispensations",
    "52": "Certificats, déclarations",
    "60": "Remboursements",
    "90": "Documents déposés par vous",
    "95": "Documents de gestion",
}


def category_label(class_code: str, translate: Any) -> str:
    label = CATEGORY_LABELS.get(class_code)
    if label is not None:
        return str(translate(label))
    found = next((t.class_display_fr for t in codes.document_types().values() if t.class_code == class_code), None)
    return found or class_code


def type_label(type_code: str) -> str:
    found = next((t.display_fr for t in codes.document_types().values() if t.code == type_code), None)
    return found or type_code


def patient_nav(page: Page, record_id: uuid.UUID) -> list[tuple[str, str]]:
    """The patient space's navigation, for one record."""
    _ = page._
    base = f"/dossiers/{record_id}"
    return [
        (base, _("Mon dossier")),
        (f"{base}/documents", _("Documents")),
        (f"{base}/urgence", _("Urgence")),
        (f"{base}/vaccinations", _("Vaccinations")),
        (f"{base}/acces", _("Accès des professionnels")),
        (f"{base}/journal", _("Journal")),
        (f"{base}/preferences", _("Préférences")),
        ("/mon-compte/delegations", _("Délégations")),
        ("/mon-compte/mot-de-passe", _("Mot de passe")),
    ]


def size_text(size: int, page: Page) -> str:
    if size < 1024:
        return page._("{n} octets", n=size)
    if size < 1024 * 1024:
        return page._("{n} Ko", n=i18n.number(size / 1024, page.lang))
    return page._("{n} Mo", n=i18n.number(size / (1024 * 1024), page.lang, 1))


def staff_nav(actor: Actor, page: Page | None = None, record_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The navigation of the actor's own space (a patient's: their record's, when known)."""
    if actor.kind is ActorKind.PATIENT:
        return {"nav": patient_nav(page, record_id)} if page is not None and record_id is not None else {}
    from opendmp.web.pro_pages import _staff_nav

    return _staff_nav(actor)


def _signed_in(page: Page) -> Actor | Response[str]:
    found = _current(page, SessionStage.AUTHENTICATED)
    if isinstance(found, Response):
        return found
    return found[1].actor.at(address_of(page.request))


def _not_found(page: Page, actor: Actor) -> Response[str]:
    _ = page._
    return page.render(
        "message.html",
        404,
        title=_("Document introuvable"),
        alert=_("Ce document n'existe pas ou vous n'avez pas le droit de le consulter."),
        lines=[],
        links=[("/mon-dossier" if actor.kind is ActorKind.PATIENT else "/", _("Retour à mon accueil"))],
        **staff_nav(actor),
    )


def _refused(page: Page, actor: Actor, error: DomainError) -> Response[str]:
    if error.kind is ErrorKind.NOT_FOUND:
        return _not_found(page, actor)
    _ = page._
    forbidden = error.kind is ErrorKind.FORBIDDEN
    return page.render(
        "message.html",
        403 if forbidden else 409,
        title=_("Action impossible"),
        alert=_("Vous n'avez pas le droit de faire cela sur ce document.")
        if forbidden
        else _("Cette action n'est pas possible sur ce document dans son état actuel."),
        lines=[],
        links=[(page.request.url.path.split("/masquage")[0], _("Retour au document"))],
        **staff_nav(actor),
    )


def authors_of(db: Session, stored: documents.StoredDocument, page: Page) -> list[str]:
    rpps = {a.rpps for a in stored.authors if a.rpps}
    directory = journal_repo.professionals_by_rpps(db, rpps)
    shown = []
    for author in stored.authors:
        professional = directory.get(author.rpps) if author.rpps else None
        if professional is not None:
            label = profession_label(professional.profession, page.lang)
            shown.append(f"{professional.given} {professional.family.upper()}" + (f", {label}" if label else ""))
        elif author.kind == "patient":
            shown.append(page._("Le patient"))
        else:
            shown.append(author.display or (f"RPPS {author.rpps}" if author.rpps else author.finess or author.kind))
    return shown


@get("/documents/{document_id:str}", include_in_schema=False)
@threaded
def document_page(request: Request[Any, Any, Any], document_id: FromPath[str]) -> Response[str]:
    page = Page(edge_of(request), request)
    actor = _signed_in(page)
    if isinstance(actor, Response):
        return actor
    doc_id = parse_id(document_id)
    if doc_id is None:
        return _not_found(page, actor)
    runtime = page.edge.runtime
    now = runtime.clock.now()
    _ = page._
    try:
        with unit_of_work(runtime.sessions) as db:
            stored = documents.get_document(db, actor, doc_id, now)
            document = stored.document
            authors = authors_of(db, stored, page)
            earlier = [
                {"label": e.window.label_fr, "id": e.document_id, "at": e.performed_at, "days": e.window.days}
                for e in documents.earlier_exams(db, actor, document, now)
            ]
            rendered: cda_view.CdaView | None = None
            unreadable = False
            if document.mime_type in CDA_TYPES and document.size <= MAX_CDA_BYTES:
                _doc, chunks = documents.read_content(db, actor, doc_id, now, runtime.vault)
                try:
                    rendered = cda_view.view(b"".join(chunks))
                except DomainError:
                    unreadable = True  # shown as a download, with a word why
    except DomainError as error:
        return _refused(page, actor, error)
    generated = document.blob_key.startswith(documents.GENERATED_PREFIX)
    if generated:
        shown = "frame"  # the reimbursement history: made on read, shown as its PDF
    elif document.mime_type in CDA_TYPES:
        shown = "cda"
    elif document.mime_type.startswith("image/"):
        shown = "image"
    elif document.mime_type in INLINE_TYPES:
        shown = "frame"
    else:
        shown = "download"
    return page.render(
        "document.html",
        title=document.title or _("Document sans titre"),
        document=document,
        type_label=type_label(document.type_code),
        category=category_label(document.class_code, _),
        authors=authors,
        shown=shown,
        cda=rendered,
        unreadable=unreadable,
        is_patient=actor.kind is ActorKind.PATIENT,
        earlier=earlier,
        size=page._("généré à chaque lecture") if generated else size_text(document.size, page),
        pdf_frame=generated or document.mime_type == "application/pdf",
        **staff_nav(actor, page, document.record_id),
    )


def _content_headers(mime_type: str, document_id: uuid.UUID, download: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CONTENT_CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        # The portal's own pages may frame it (the viewer); nobody else.
        "X-Frame-Options": "SAMEORIGIN",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    name = f"document-{document_id}.{EXTENSIONS.get(mime_type, 'bin' if mime_type not in CDA_TYPES else 'xml')}"
    disposition = "attachment" if download or mime_type not in INLINE_TYPES else "inline"
    headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    return headers


def _media_type(mime_type: str) -> str:
    return "text/plain; charset=utf-8" if mime_type == "text/plain" else mime_type


@get("/documents/{document_id:str}/contenu", include_in_schema=False)
@threaded
def document_content(request: Request[Any, Any, Any], document_id: FromPath[str]) -> Response[Any]:
    page = Page(edge_of(request), request)
    actor = _signed_in(page)
    if isinstance(actor, Response):
        return actor
    doc_id = parse_id(document_id)
    if doc_id is None:
        return _not_found(page, actor)
    runtime = page.edge.runtime
    try:
        with unit_of_work(runtime.sessions) as db:
            # A generated document (the reimbursement history) is shown as its printable PDF.
            content = documents.read_content_as(
                db, actor, doc_id, runtime.clock.now(), runtime.vault, mime_type="application/pdf"
            )
            chunks = content.chunks
            first = next(chunks, b"")  # the first segment is verified before the answer starts
            mime, size = content.mime_type, content.size
    except DomainError as error:
        return _refused(page, actor, error)
    headers = _content_headers(mime, doc_id, request.query_params.get("telecharger") == "1")
    if size is not None:
        headers["Content-Length"] = str(size)
    return Stream(_grouped(first, chunks), media_type=_media_type(mime), headers=headers)


@get("/documents/{document_id:str}/contenu/corps", include_in_schema=False)
@threaded
def cda_body(request: Request[Any, Any, Any], document_id: FromPath[str]) -> Response[Any]:
    """The PDF, image or text a CDA wraps (its nonXMLBody), served like any content."""
    page = Page(edge_of(request), request)
    actor = _signed_in(page)
    if isinstance(actor, Response):
        return actor
    doc_id = parse_id(document_id)
    if doc_id is None:
        return _not_found(page, actor)
    runtime = page.edge.runtime
    try:
        with unit_of_work(runtime.sessions) as db:
            document, chunks = documents.read_content(db, actor, doc_id, runtime.clock.now(), runtime.vault)
            if document.mime_type not in CDA_TYPES or document.size > MAX_CDA_BYTES:
                return _not_found(page, actor)
            header = read_header(b"".join(chunks))
    except DomainError as error:
        return _refused(page, actor, error)
    if header.non_xml_body is None:
        return _not_found(page, actor)
    mime, content = header.non_xml_body
    return Response(content, media_type=_media_type(mime), headers=_content_headers(mime, doc_id, False))


@post("/documents/{document_id:str}/masquage", include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def mask_document(request: Request[Any, Any, Any], document_id: FromPath[str], data: Form) -> Response[str]:
    """`masquer=1` hides the document from professionals (MASQUE_PS), `masquer=0` shows it again;
    the author and the médecin traitant still see it. The service decides who may."""
    page = Page(edge_of(request), request)
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    actor = found[1].actor.at(address_of(request))
    doc_id = parse_id(document_id)
    if doc_id is None:
        return _not_found(page, actor)
    runtime = page.edge.runtime
    masked = data.get("masquer") == "1"
    try:
        with unit_of_work(runtime.sessions) as db:
            documents.update_metadata(
                db, actor, doc_id, documents.MetadataChange(masked_from_professionals=masked), runtime.clock.now()
            )
    except DomainError as error:
        return _refused(page, actor, error)
    back = data.get("retour")
    target = back if isinstance(back, str) and back.startswith("/dossiers/") else f"/documents/{doc_id}"
    return page.redirect(target)


ROUTES = [document_page, document_content, cda_body, mask_document]
