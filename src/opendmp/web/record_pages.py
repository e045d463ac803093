"""The patient's space: the record at a glance, the documents (filters, search, paging), adding a
document, the professionals with access (authorise, revoke, block, unblock by RPPS, the médecin
traitant), the journal in plain words, preferences (emergency switches, default masking, access
window, notifications), download everything, close the record or ask for its deletion.

Every page names the record in its path (`/dossiers/<record id>/…`, never an INS or a name) and
asks the services, which decide (access.policy) and journal. A record that is not one of this
login's (delegations.records_of) is answered like a missing one. Search terms travel in POST
bodies, never in URLs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from sqlalchemy.orm import Session

from opendmp.auth import delegations
from opendmp.auth.account_models import SessionStage
from opendmp.auth.delegations import ActingRecord
from opendmp.consent import service as consents
from opendmp.consent.models import Authorisation
from opendmp.content import service as content
from opendmp.document import codes
from opendmp.document import service as documents
from opendmp.document.models import AuthorKind
from opendmp.fhir.document import DocumentIn, SubjectRef
from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.models import Professional
from opendmp.identity.professions import profession_label
from opendmp.journal import reading as journal_reading
from opendmp.journal import repository as journal_repo
from opendmp.journal.models import JournalEntry
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import DomainError, ErrorKind
from opendmp.kit.ids import parse_id
from opendmp.kit.threads import threaded
from opendmp.web.document_pages import CATEGORY_LABELS, category_label, type_label
from opendmp.web.document_pages import patient_nav as nav
from opendmp.web.i18n import PARIS
from opendmp.web.patient_pages import (
    MAX_FORM_BYTES,
    RELATIONS,
    Form,
    Page,
    _current,
    _posted,
    address_of,
    edge_of,
)

Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
PAGE_SIZE = 20
# Types a patient files themselves (TRE_A05: DOCPAT01–09, EXPPAT_1–3).
PATIENT_TYPES = tuple(t for t in codes.document_types().values() if t.code.startswith(("DOCPAT", "EXPPAT_")))
# The files a patient may add: their signature decides, not the browser's claim.
UPLOAD_TYPES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG", "text/plain": "TXT"}
# The body of an upload: the document (settings.max_document_bytes, checked with a clear message)
# and the form's few fields.
MAX_UPLOAD_BODY = 64 * 1024 * 1024
PERIODS = {"3m": 92, "12m": 366, "5a": 5 * 366}
AUTHOR_KINDS = {
    AuthorKind.PROFESSIONAL.value: "Un professionnel de santé",
    AuthorKind.ORGANISATION.value: "Un établissement",
    AuthorKind.PATIENT.value: "Vous-même",
    AuthorKind.DEVICE.value: "Un système automatique",
}
RPPS_LENGTH = 11


# ---------------------------------------------------------------- plumbing


@dataclass(frozen=True, slots=True)
class Holder:
    actor: Actor
    record: ActingRecord
    records: list[ActingRecord]


def _patient(page: Page) -> Actor | Response[str]:
    found = _current(page, SessionStage.AUTHENTICATED)
    if isinstance(found, Response):
        return found
    actor = found[1].actor.at(address_of(page.request))
    if actor.kind is not ActorKind.PATIENT:
        return _missing(page)
    return actor


def _missing(page: Page) -> Response[str]:
    _ = page._
    return page.render(
        "message.html",
        404,
        title=_("Dossier introuvable"),
        alert=_("Ce dossier n'existe pas ou n'est pas l'un des vôtres."),
        lines=[],
        links=[("/mon-dossier", _("Retour à mon dossier"))],
    )


def _holder(page: Page, db: Session, actor: Actor, record_text: str | None) -> Holder | None:
    """The chosen record among this login's (own first); None when it is not one of them."""
    records = delegations.records_of(db, actor)
    if not records:
        return None
    if record_text is None:
        return Holder(actor, records[0], records)
    wanted = parse_id(record_text)
    chosen = next((r for r in records if r.record_id == wanted), None)
    return Holder(actor, chosen, records) if chosen is not None else None


def _render(page: Page, holder: Holder, template: str, status: int = 200, **context: Any) -> Response[str]:
    return page.render(
        template,
        status,
        nav=nav(page, holder.record.record_id),
        holder=holder,
        record_id=holder.record.record_id,
        relations=RELATIONS,
        **context,
    )


def _rpps(form: dict[str, Any], name: str = "rpps") -> str | None:
    value = form.get(name)
    digits = "".join(value.split()) if isinstance(value, str) else ""
    return digits if len(digits) == RPPS_LENGTH and digits.isdigit() else None


def _professionals(db: Session, rpps: set[str]) -> dict[str, Professional]:
    return journal_repo.professionals_by_rpps(db, rpps)


def professional_name(professional: Professional | None, rpps: str, lang: str) -> str:
    """ "Dr Anne MARTIN, médecin" as the holder reads a professional (the directory's name)."""
    if professional is None:
        return f"RPPS {rpps}"
    label = profession_label(professional.profession, lang)
    prefix = "Dr " if professional.profession == "10" else ""
    name = f"{prefix}{professional.given} {professional.family.upper()}".strip()
    return f"{name}, {label.lower()}" if label else name


def _error_message(page: Page, error: DomainError) -> str:
    """A readable French (or English) message for the services' errors."""
    _ = page._
    if error.kind is ErrorKind.NOT_FOUND:
        return _("Introuvable : vérifiez le numéro saisi.")
    if error.kind is ErrorKind.FORBIDDEN:
        return _("Vous n'avez pas le droit de faire cela sur ce dossier.")
    if error.kind is ErrorKind.INVALID:
        return _("Valeur refusée : {reason}", reason=error.message)
    return _("Action impossible : {reason}", reason=error.message)


# ---------------------------------------------------------------- the record at a glance


@get("/mon-dossier", include_in_schema=False)
@threaded
def my_record(request: Request[Any, Any, Any]) -> Response[str]:
    return _glance(request, None)


@get("/dossiers/{record_id:str}", include_in_schema=False)
@threaded
def record_glance(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    return _glance(request, record_id)


@post("/mon-dossier/choisir", include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def choose_record(request: Request[Any, Any, Any], data: Form) -> Response[str]:
    """Switch between one's own record and a child's: the record id travels in the body."""
    page = Page(edge_of(request), request)
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    wanted = parse_id(str(data.get("dossier") or ""))
    return page.redirect(f"/dossiers/{wanted}" if wanted else "/mon-dossier")


def _glance(request: Request[Any, Any, Any], record_text: str | None) -> Response[str]:
    page = Page(edge_of(request), request)
    actor = _patient(page)
    if isinstance(actor, Response):
        return actor
    runtime = page.edge.runtime
    now = runtime.clock.now()
    with unit_of_work(runtime.sessions) as db:
        holder = _holder(page, db, actor, record_text)
        if holder is None:
            if record_text is None:
                return page.render(
                    "message.html",
                    title=page._("Mon dossier médical partagé"),
                    lines=[page._("Aucun dossier n'est rattaché à votre compte.")],
                    links=[],
                )
            return _missing(page)
        # The record and its policy facts, loaded once for the page's three reads (documents,
        # emergency summary, vaccinations), each still decided by the policy and journaled.
        try:
            loaded: content.Loaded | None = content.load(db, holder.record.record_id, now)
        except DomainError:
            loaded = None  # each read below then answers for itself, as it did alone
        try:
            latest, total = documents.search_documents(
                db,
                actor,
                holder.record.record_id,
                documents.DocumentQuery(count=5),
                now,
                facts=loaded.facts if loaded is not None else None,
            )
            rows = _rows(page, db, latest)
        except DomainError:
            rows, total = [], 0
        from opendmp.web.content_pages import glance_content  # content_pages builds on this module

        summary = glance_content(page, db, holder, loaded)
    return _render(
        page,
        holder,
        "record_glance.html",
        title=page._("Mon dossier médical partagé"),
        documents=rows,
        total=total,
        emergency=summary.get("emergency"),
        due=summary.get("due", []),
    )


def _rows(page: Page, db: Session, found: list[documents.StoredDocument]) -> list[dict[str, Any]]:
    """The table's rows; authors named from the directory in one query for the page."""
    directory = _professionals(db, {a.rpps for s in found for a in s.authors if a.rpps})
    return [_row(page, s, directory) for s in found]


def _row(page: Page, stored: documents.StoredDocument, directory: dict[str, Professional]) -> dict[str, Any]:
    d = stored.document
    named = [professional_name(directory.get(a.rpps), a.rpps, page.lang) for a in stored.authors if a.rpps in directory]
    return {
        "id": d.id,
        "title": d.title or page._("Document sans titre"),
        "date": d.created_at or d.submitted_at,
        "category": category_label(d.class_code, page._),
        "type": type_label(d.type_code),
        "masked": d.masked_from_professionals,
        "author": named[0]
        if named
        else next(
            (a.display for a in stored.authors if a.display),
            page._("Vous-même") if any(a.kind == "patient" for a in stored.authors) else "",
        ),
    }


# ---------------------------------------------------------------- documents


@dataclass(frozen=True, slots=True)
class Filters:
    category: str = ""
    period: str = ""
    author: str = ""
    search: str = ""
    page: int = 1

    @classmethod
    def of(cls, form: dict[str, Any]) -> Filters:
        def text(name: str, limit: int = 100) -> str:
            value = form.get(name)
            return value.strip()[:limit] if isinstance(value, str) else ""

        number = text("page")
        return cls(
            category=text("categorie") if text("categorie") in CATEGORY_LABELS else "",
            period=text("periode") if text("periode") in PERIODS else "",
            author=text("auteur") if text("auteur") in AUTHOR_KINDS else "",
            search=text("recherche"),
            page=max(1, min(int(number), 10_000)) if number.isdigit() else 1,
        )

    def query(self, now: datetime) -> documents.DocumentQuery:
        return documents.DocumentQuery(
            class_codes=(self.category,) if self.category else (),
            date_from=now - timedelta(days=PERIODS[self.period]) if self.period else None,
            author_kind=self.author or None,
            title_contains=self.search or None,
            offset=(self.page - 1) * PAGE_SIZE,
            count=PAGE_SIZE,
        )


def _documents(request: Request[Any, Any, Any], record_text: str, form: dict[str, Any] | None) -> Response[str]:
    page = Page(edge_of(request), request)
    if form is None:
        actor = _patient(page)
    else:
        posted = _posted(page, SessionStage.AUTHENTICATED, form)
        actor = posted if isinstance(posted, Response) else posted[1].actor.at(address_of(request))
        if not isinstance(actor, Response) and actor.kind is not ActorKind.PATIENT:
            return _missing(page)
    if isinstance(actor, Response):
        return actor
    filters = Filters.of(form or {})
    runtime = page.edge.runtime
    now = runtime.clock.now()
    with unit_of_work(runtime.sessions) as db:
        holder = _holder(page, db, actor, record_text)
        if holder is None:
            return _missing(page)
        try:
            found, total = documents.search_documents(db, actor, holder.record.record_id, filters.query(now), now)
            rows = _rows(page, db, found)
        except DomainError:
            return _missing(page)
    _ = page._
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return _render(
        page,
        holder,
        "record_documents.html",
        title=_("Mes documents"),
        documents=rows,
        total=total,
        filters=filters,
        pages=pages,
        categories=[(code, _(label)) for code, label in CATEGORY_LABELS.items()],
        periods=[("3m", _("3 derniers mois")), ("12m", _("12 derniers mois")), ("5a", _("5 dernières années"))],
        author_kinds=[(code, _(label)) for code, label in AUTHOR_KINDS.items()],
    )


@get("/dossiers/{record_id:str}/documents", include_in_schema=False)
@threaded
def documents_page(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    return _documents(request, record_id, None)


@post(
    "/dossiers/{record_id:str}/documents",
    status_code=200,
    include_in_schema=False,
    request_max_body_size=MAX_FORM_BYTES,
)
@threaded
def documents_search(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    """Filters, search and paging: posted, so that what is searched never sits in a URL."""
    return _documents(request, record_id, data)


# ---------------------------------------------------------------- adding a document


def _upload_form(
    page: Page,
    holder: Holder,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response[str]:
    limit = page.edge.runtime.settings.max_document_bytes
    return _render(
        page,
        holder,
        "record_upload.html",
        status,
        title=page._("Ajouter un document"),
        types=[(t.code, t.display_fr) for t in PATIENT_TYPES],
        values=values or {},
        errors=errors or {},
        notice=notice,
        limit_mb=limit // (1024 * 1024),
        today=page.edge.runtime.clock.now().astimezone(PARIS).date().isoformat(),
    )


@get("/dossiers/{record_id:str}/documents/ajouter", include_in_schema=False)
@threaded
def upload_page(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    page = Page(edge_of(request), request)
    actor = _patient(page)
    if isinstance(actor, Response):
        return actor
    with unit_of_work(page.edge.runtime.sessions) as db:
        holder = _holder(page, db, actor, record_id)
    return _missing(page) if holder is None else _upload_form(page, holder)


def sniff(content: bytes) -> str | None:
    """The file's real type from its first bytes (PDF, PNG, JPEG), else UTF-8 text, else None."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain" if text and "\x00" not in text else None


@post(
    "/dossiers/{record_id:str}/documents/ajouter",
    status_code=200,
    include_in_schema=False,
    request_max_body_size=MAX_UPLOAD_BODY,
)
@threaded
def upload_submit(request: Request[Any, Any, Any], record_id: FromPath[str], data: Upload) -> Response[str]:
    page = Page(edge_of(request), request)
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    found = _posted(page, SessionStage.AUTHENTICATED, fields)
    if isinstance(found, Response):
        return found
    actor = found[1].actor.at(address_of(request))
    if actor.kind is not ActorKind.PATIENT:
        return _missing(page)
    runtime = page.edge.runtime
    now = runtime.clock.now()
    limit = runtime.settings.max_document_bytes
    _ = page._
    with unit_of_work(runtime.sessions) as db:
        holder = _holder(page, db, actor, record_id)
    if holder is None:
        return _missing(page)
    values = {k: fields.get(k, "").strip() for k in ("titre", "type", "date")}
    errors: dict[str, str] = {}
    if not values["titre"]:
        errors["titre"] = _("Donnez un titre au document.")
    elif len(values["titre"]) > 200:
        errors["titre"] = _("Le titre ne peut pas dépasser 200 caractères.")
    chosen = next((t for t in PATIENT_TYPES if t.code == values["type"]), None)
    if chosen is None:
        errors["type"] = _("Choisissez le type du document.")
    written: date | None = None
    try:
        written = date.fromisoformat(values["date"]) if values["date"] else None
    except ValueError:
        errors["date"] = _("Indiquez une date valide (jj/mm/aaaa).")
    if written is not None and written > now.astimezone(PARIS).date():
        errors["date"] = _("La date du document ne peut pas être dans le futur.")
    upload = data.get("fichier")
    content = b""
    mime: str | None = None
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["fichier"] = _("Choisissez un fichier.")
    else:
        content = upload.file.read(limit + 1)
        if not content:
            errors["fichier"] = _("Le fichier est vide.")
        elif len(content) > limit:
            errors["fichier"] = _("Le fichier dépasse la taille maximale de {size} Mo.", size=limit // (1024 * 1024))
        else:
            mime = sniff(content[:4096])
            if mime is None:
                errors["fichier"] = _("Ce fichier n'est ni un PDF, ni une image JPEG ou PNG, ni un texte.")
    if errors or chosen is None or mime is None:
        return _upload_form(page, holder, 400, values, errors)
    item = DocumentIn(
        subject=SubjectRef(record_id=holder.record.record_id),
        type_system=chosen.system_oid,
        type_code=chosen.code,
        title=values["titre"],
        mime_type=mime,
        created_at=datetime.combine(written, time(12), tzinfo=PARIS) if written else None,
    )
    try:
        with unit_of_work(runtime.sessions) as db:
            stored = documents.submit_document(db, actor, item, content, now, runtime.vault, max_size=limit)
            new_id = stored.document.id
    except DomainError as error:
        where = "fichier" if error.field and "attachment" in error.field else None
        message = _error_message(page, error)
        if where:
            return _upload_form(page, holder, 400, values, {where: message})
        return _upload_form(
            page, holder, 409 if error.kind is not ErrorKind.INVALID else 400, values, {"form": message}
        )
    return page.redirect(f"/documents/{new_id}")


# ---------------------------------------------------------------- access


def _live(grant: Authorisation, now: datetime) -> bool:
    return grant.revoked_at is None and (grant.expires_at is None or grant.expires_at > now)


def _access(
    page: Page,
    holder: Holder,
    db: Session,
    status: int = 200,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response[str]:
    now = page.edge.runtime.clock.now()
    view = consents.consents_of(db, holder.actor, holder.record.record_id, now)
    grants = [g for g in view.authorisations if _live(g, now)]
    blocks = [b for b in view.blocks if b.unblocked_at is None]
    treating = view.preferences.medecin_traitant if view.preferences else None
    rpps = {g.rpps for g in grants} | {b.rpps for b in blocks} | {e.rpps for e in view.emergencies}
    if treating:
        rpps.add(treating)
    directory = _professionals(db, rpps)
    lang = page.lang
    return _render(
        page,
        holder,
        "record_access.html",
        status,
        title=page._("Accès des professionnels"),
        notice=notice,
        errors=errors or {},
        values=values or {},
        grants=[
            {
                "rpps": g.rpps,
                "name": professional_name(directory.get(g.rpps), g.rpps, lang),
                "since": g.granted_at,
                "until": g.expires_at,
                "care_team": g.kind == "care-team",
                "masked": g.masked_access,
            }
            for g in grants
        ],
        blocks=[
            {"rpps": b.rpps, "name": professional_name(directory.get(b.rpps), b.rpps, lang), "since": b.blocked_at}
            for b in blocks
        ],
        treating=(professional_name(directory.get(treating), treating, lang) if treating else None),
        emergencies=[
            {
                "name": professional_name(directory.get(e.rpps), e.rpps, lang),
                "mode": e.mode,
                "reason": e.reason,
                "at": e.started_at,
                "until": e.expires_at,
            }
            for e in reversed(view.emergencies)
        ],
        windows=[
            ("", page._("Durée par défaut")),
            ("0", page._("Le jour même")),
            ("30", page._("30 jours")),
            ("90", page._("90 jours")),
            ("365", page._("1 an")),
        ],
    )


@get("/dossiers/{record_id:str}/acces", include_in_schema=False)
@threaded
def access_page(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    page = Page(edge_of(request), request)
    actor = _patient(page)
    if isinstance(actor, Response):
        return actor
    with unit_of_work(page.edge.runtime.sessions) as db:
        holder = _holder(page, db, actor, record_id)
        if holder is None:
            return _missing(page)
        try:
            return _access(page, holder, db)
        except DomainError:
            return _missing(page)


OPERATIONS = ("autoriser", "retirer", "bloquer", "debloquer", "medecin-traitant", "retirer-medecin-traitant")


@post("/dossiers/{record_id:str}/acces", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def access_change(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    """One form per operation (`operation` names it); the RPPS error is shown next to the field
    of the form that sent it (`rpps-<operation>`)."""
    page = Page(edge_of(request), request)
    found = _posted(page, SessionStage.AUTHENTICATED, data)
    if isinstance(found, Response):
        return found
    actor = found[1].actor.at(address_of(request))
    if actor.kind is not ActorKind.PATIENT:
        return _missing(page)
    operation = data.get("operation")
    runtime = page.edge.runtime
    now = runtime.clock.now()
    _ = page._
    with unit_of_work(runtime.sessions) as db:
        holder = _holder(page, db, actor, record_id)
    if holder is None or operation not in OPERATIONS:
        return _missing(page)
    record = holder.record.record_id
    field = f"rpps-{operation}"
    typed = str(data.get("rpps") or "").strip()
    rpps = _rpps(data)
    if operation != "retirer-medecin-traitant" and rpps is None:
        with unit_of_work(runtime.sessions) as db:
            return _access(
                page, holder, db, 400, errors={field: _("Un numéro RPPS compte 11 chiffres.")}, values={field: typed}
            )
    window: int | None = None
    if operation == "autoriser" and str(data.get("duree") or ""):
        raw = str(data.get("duree"))
        window = int(raw) if raw.isdigit() else -1
    try:
        with unit_of_work(runtime.sessions) as db:
            who = professional_name(_professionals(db, {rpps}).get(rpps) if rpps else None, rpps or "", page.lang)
            if operation == "autoriser":
                assert rpps is not None
                consents.authorise(db, actor, record, rpps, now, window_days=window)
                notice = _("{name} peut désormais consulter votre dossier.", name=who)
            elif operation == "retirer":
                assert rpps is not None
                consents.revoke(db, actor, record, rpps, now)
                notice = _("L'accès de {name} est retiré.", name=who)
            elif operation == "bloquer":
                assert rpps is not None
                consents.block(db, actor, record, rpps, now)
                notice = _("{name} est bloqué : il ne peut plus accéder à votre dossier.", name=who)
            elif operation == "debloquer":
                assert rpps is not None
                consents.unblock(db, actor, record, rpps, now)
                notice = _("{name} n'est plus bloqué.", name=who)
            elif operation == "medecin-traitant":
                consents.designate_medecin_traitant(db, actor, record, rpps, now)
                notice = _("{name} est votre médecin traitant.", name=who)
            else:
                consents.designate_medecin_traitant(db, actor, record, None, now)
                notice = _("Vous n'avez plus de médecin traitant déclaré.")
    except DomainError as error:
        with unit_of_work(runtime.sessions) as db:
            return _access(page, holder, db, 400, errors={field: _error_message(page, error)}, values={field: typed})
    with unit_of_work(runtime.sessions) as db:
        return _access(page, holder, db, notice=notice)


# ---------------------------------------------------------------- the journal in plain words


def _whole(text: Any, low: int, high: int) -> int | None:
    """A page number or bound typed in the URL: a whole number within bounds, else None."""
    return int(text) if isinstance(text, str) and text.isdigit() and low <= int(text) <= high else None


# action → what the holder reads; {what} is the document or the professional concerned.
SENTENCES = {
    "document:read": "a consulté {what}",
    "document:read-metadata": "a consulté {what}",
    "document:read-content": "a ouvert {what}",
    "document:search": "a consulté la liste de vos documents",
    "document:create": "a ajouté {what}",
    "document:replace": "a remplacé {what} par une nouvelle version",
    "document:mask": "a changé la visibilité de {what}",
    "document:update": "a modifié {what}",
    "document:delete": "a supprimé {what}",
    "document:exam-query": "a vérifié si un examen avait déjà été fait",
    "consent:authorise": "a autorisé l'accès de {what}",
    "consent:declare": "a déclaré une autorisation pour {what}",
    "consent:revoke": "a retiré l'accès de {what}",
    "consent:block": "a bloqué {what}",
    "consent:unblock": "a débloqué {what}",
    "consent:medecin-traitant": "a changé le médecin traitant",
    "consent:preferences": "a changé vos préférences d'accès",
    "consent:manage": "a changé vos préférences",
    "consent:read": "a consulté la liste des accès à votre dossier",
    "emergency:access": "a accédé à votre dossier en urgence",
    "content:create": "a ajouté une information à votre dossier",
    "content:update": "a modifié une information de votre dossier",
    "content:delete": "a supprimé une information de votre dossier",
    "content:read": "a consulté vos informations personnelles",
    "content:search": "a consulté vos informations personnelles",
    "content:emergency-summary": "a consulté votre résumé d'urgence",
    "journal:read": "a consulté le journal de votre dossier",
    "record:open": "a ouvert votre dossier",
    "record:lookup": "a recherché votre dossier",
    "record:read": "a consulté votre dossier",
    "record:close": "a fermé votre dossier",
    "record:reopen": "a rouvert votre dossier",
    "record:request-deletion": "a demandé la suppression de votre dossier",
    "record:object": "s'est opposé à l'ouverture de votre dossier",
    "record:activate": "a activé votre dossier",
    "record:manage-representatives": "a changé les représentants légaux",
    "auth:activate": "a activé votre espace",
    "auth:login": "s'est connecté",
    "delegation:grant": "a désigné un aidant",
    "delegation:revoke": "a retiré une délégation",
    "credentials:issue": "a créé vos codes d'accès",
    "credentials:letter": "a imprimé le courrier de vos codes d'accès",
}
OTHER_ACTORS = {
    ActorKind.COUNTER_AGENT.value: "Un agent d'accueil de l'Assurance Maladie",
    ActorKind.OPERATOR.value: "Un opérateur de la plateforme OpenDMP",
    ActorKind.INSURER_FEED.value: "L'Assurance Maladie (alimentation automatique)",
    ActorKind.SYSTEM.value: "OpenDMP (traitement automatique)",
}


def _who(page: Page, entry: JournalEntry, journal: journal_reading.JournalPage) -> str:
    _ = page._
    kind, actor_id = entry.actor_kind or "", entry.actor_id or ""
    if kind == ActorKind.PROFESSIONAL.value:
        return professional_name(journal.professionals.get(actor_id), actor_id, page.lang)
    if kind == ActorKind.PATIENT.value:
        if actor_id == journal.holder.value:
            return _("Vous")
        return (
            _("Votre représentant légal")
            if any(actor_id == r.value for r in journal.representatives)
            else _("Un ancien représentant légal")
        )
    if kind == ActorKind.SOFTWARE.value:
        return _("Le logiciel {name}", name=actor_id)
    return _(OTHER_ACTORS[kind]) if kind in OTHER_ACTORS else _("Un intervenant")


def journal_lines(
    page: Page,
    journal: journal_reading.JournalPage,
    labels: dict[uuid.UUID, tuple[str, str]],
    targets: dict[str, Professional],
) -> list[dict[str, Any]]:
    _ = page._
    lines = []
    for entry in journal.entries:
        what = ""
        if entry.target_type == "document" and entry.target_id:
            label = labels.get(parse_id(entry.target_id) or uuid.UUID(int=0))
            what = (
                _("votre document « {title} »", title=label[1] or type_label(label[0])) if label else _("un document")
            )
        elif entry.target_type == "professional" and entry.target_id:
            what = professional_name(targets.get(entry.target_id), entry.target_id, page.lang)
        sentence = SENTENCES.get(entry.action or "")
        did = _(sentence, what=what) if sentence else _("a effectué l'action {action}", action=entry.action or "?")
        lines.append(
            {
                "at": entry.at,
                "who": _who(page, entry, journal),
                "did": did,
                "refused": entry.outcome not in (None, "success"),
                "professional": entry.actor_kind == ActorKind.PROFESSIONAL.value,
                "emergency": (entry.purpose or "") == "emergency" or (entry.action or "").startswith("emergency:"),
            }
        )
    return lines


@get("/dossiers/{record_id:str}/journal", include_in_schema=False)
@threaded
def journal_page(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    page = Page(edge_of(request), request)
    number = _whole(request.query_params.get("page"), 1, 100_000) or 1
    up_to = _whole(request.query_params.get("jusqua"), 0, 2**62)
    actor = _patient(page)
    if isinstance(actor, Response):
        return actor
    runtime = page.edge.runtime
    now = runtime.clock.now()
    with unit_of_work(runtime.sessions) as db:
        holder = _holder(page, db, actor, record_id)
        if holder is None:
            return _missing(page)
        record = holder.record.record_id
        try:
            journal = journal_reading.read_record_journal(
                db,
                actor,
                record,
                journal_reading.EntryQuery(offset=(number - 1) * PAGE_SIZE, count=PAGE_SIZE, up_to_seq=up_to),
                now,
            )
        except DomainError:
            return _missing(page)
        document_ids = [
            doc
            for e in journal.entries
            if e.target_type == "document" and e.target_id and (doc := parse_id(e.target_id)) is not None
        ]
        labels = documents.labels_of(db, actor, record, document_ids, now)
        targets = _professionals(
            db, {e.target_id for e in journal.entries if e.target_type == "professional" and e.target_id}
        )
        lines = journal_lines(page, journal, labels, targets)
    pages = max(1, (journal.total + PAGE_SIZE - 1) // PAGE_SIZE)
    return _render(
        page,
        holder,
        "record_journal.html",
        title=page._("Journal de mon dossier"),
        lines=lines,
        total=journal.total,
        number=number,
        pages=pages,
        up_to=journal.up_to_seq,
    )


ROUTES = [
    my_record,
    record_glance,
    choose_record,
    documents_page,
    documents_search,
    upload_page,
    upload_submit,
    access_page,
    access_change,
    journal_page,
]
