"""The professional's space, after the OpenID Connect login (web/pro_pages.py): one record's page
(what the professional may see and why, the documents the policy lets them read, recent exams),
adding a document, emergency access, and an authorisation declared with the patient present.

Every answer comes from the services (record/standing.py, document/service.py,
consent/service.py), which ask access.policy and journal: the page only shows it. Record ids in
paths are random (never an INS or a name); forms are POSTed with the CSRF token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from sqlalchemy.orm import Session

from opendmp.consent import service as consents
from opendmp.document import service as documents
from opendmp.document.codes import document_types
from opendmp.document.exams import exam_windows
from opendmp.fhir.document import DocumentIn, SubjectRef
from opendmp.identity.actor import Actor, ActorKind
from opendmp.kit.errors import DomainError
from opendmp.kit.ids import parse_id
from opendmp.kit.threads import threaded
from opendmp.record.standing import Standing, standing_of
from opendmp.web import i18n
from opendmp.web.patient_pages import MAX_FORM_BYTES, Form, Page, _csrf_ok, _csrf_refused, _date, _run, _text, edge_of
from opendmp.web.pro_pages import STATUS_LABELS, _signed_in, _staff_nav

RECORD = "/pro/dossier/{record_id:str}"
PAGE_SIZE = 20
# A document (20 MiB by default, checked again by the service against the setting) and its fields.
MAX_UPLOAD_BYTES = 21 * 1024 * 1024
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
FILE_TYPES = {".pdf": "application/pdf", ".xml": "text/xml"}  # PDF or CDA R2 (XML)
CARE_TEAM_REFUSED = (
    "Votre profession ne permet pas de déclarer l'équipe de soins : recueillez le consentement exprès du patient."
)
VIA = {
    "medecin-traitant": "Vous êtes le médecin traitant de ce patient.",
    "authorisation": "Vous êtes autorisé(e) par le patient.",
    "emergency": "Accès d'urgence en cours.",
}


def _record_id(page: Page, raw: str) -> uuid.UUID | Response[str]:
    found = parse_id(raw)
    if found is None:
        return _not_found(page)
    return found


def _not_found(page: Page, actor: Actor | None = None) -> Response[str]:
    """An unknown record and one the professional may not see answer alike (existence never leaks)."""
    return page.render(
        "message.html",
        404,
        title=page._("Dossier introuvable"),
        alert=page._("Aucun DMP accessible pour ce patient."),
        lines=[],
        links=[("/pro", page._("Rechercher un patient"))],
        **(_staff_nav(actor, page) if actor else {}),
    )


def _type_options() -> list[tuple[str, str]]:
    """The national list of document types (JDV_J66), by label, for the upload form."""
    return sorted(((t.code, t.display_fr) for t in document_types().values()), key=lambda o: o[1])


def _exam_options() -> list[tuple[str, str]]:
    return [(f"{w.code_system}|{w.code}", f"{w.label_fr} ({w.days} j)") for w in exam_windows().values()]


def _record_page(
    page: Page,
    actor: Actor,
    record_id: uuid.UUID,
    status: int = 200,
    *,
    offset: int = 0,
    **extra: Any,
) -> Response[str]:
    """The record's page: one transaction (a journaled lookup and a journaled document search)."""
    edge = page.edge
    now = edge.runtime.clock.now()

    def work(db: Session) -> Response[str]:
        standing = standing_of(db, actor, record_id, now)
        found, total = documents.search_documents(
            db, actor, record_id, documents.DocumentQuery(offset=offset, count=PAGE_SIZE), now, facts=standing.facts
        )
        names = consents.display_names(db, {a.rpps for d in found for a in d.authors if a.rpps})
        recent = documents.recent_exams(db, actor, record_id, now, facts=standing.facts) if standing.via else []
        warnings = [
            {
                "text": page._(
                    "{label} : fait le {day}, il y a moins de {days} jours.",
                    label=e.window.label_fr,
                    day=i18n.day(e.performed_at, page.lang),
                    days=e.window.days,
                ),
                "document": e.document_id,
            }
            for e in recent
        ]
        extra.setdefault("recent", warnings)
        return _render_record(page, actor, standing, found, total, offset, names, status, now, **extra)

    return _run(page, work, lambda _error: _not_found(page, actor))


def _render_record(
    page: Page,
    actor: Actor,
    standing: Standing,
    found: list[documents.StoredDocument],
    total: int,
    offset: int,
    names: dict[str, str],
    status: int,
    now: datetime,
    **extra: Any,
) -> Response[str]:
    _ = page._
    p, record = standing.view.patient, standing.view.record
    types = {(t.system_oid, t.code): t.display_fr for t in document_types().values()}
    rows = [
        {
            "id": d.document.id,
            "title": d.document.title or "",
            "type": types.get((d.document.type_system, d.document.type_code), d.document.type_code),
            "date": d.document.service_start or d.document.created_at or d.document.submitted_at,
            "submitted": d.document.submitted_at,
            "authors": _("le patient")
            if d.document.submitted_by_kind == "patient" and not d.authors
            else ", ".join(names.get(a.rpps, a.display or a.rpps) if a.rpps else (a.display or "") for a in d.authors),
            "masked": d.document.masked_from_professionals,
        }
        for d in found
    ]
    remaining = None
    if standing.via == "emergency" and standing.until is not None:
        remaining = max(0, int((standing.until - now).total_seconds() // 60))
    return page.render(
        "pro_record.html",
        status,
        title=_("Dossier de {given} {family}", given=p.given_names, family=p.birth_family),
        record_id=record.id,
        born=i18n.day(p.birth_date, page.lang),
        status_label=_(STATUS_LABELS.get(record.status, record.status)),
        standing=standing,
        via_text=_(VIA[standing.via]) if standing.via in VIA else None,
        until=i18n.moment(standing.until, page.lang) if standing.until else None,
        remaining=remaining,
        rows=rows,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        types=_type_options(),
        exams=_exam_options(),
        **{"form": {}, "errors": {}, "exam": {}, "added": None, "notes": [], "recent": [], **extra},
        **_staff_nav(actor, page),
    )


def _professional(request: Request[Any, Any, Any]) -> tuple[Page, Actor] | Response[str]:
    page = Page(edge_of(request), request)
    signed = _signed_in(page, ActorKind.PROFESSIONAL)
    return signed if isinstance(signed, Response) else (page, signed[1])


@get(RECORD, include_in_schema=False)
@threaded
def record_page(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    found = _professional(request)
    if isinstance(found, Response):
        return found
    page, actor = found
    rid = _record_id(page, record_id)
    if isinstance(rid, Response):
        return rid
    raw = request.query_params.get("debut", "0")
    offset = int(raw) if isinstance(raw, str) and raw.isdigit() else 0
    return _record_page(page, actor, rid, offset=min(offset, 10_000))


def _posted_on_record(
    request: Request[Any, Any, Any], record_id: str, data: dict[str, Any]
) -> tuple[Page, Actor, uuid.UUID] | Response[str]:
    found = _professional(request)
    if isinstance(found, Response):
        return found
    page, actor = found
    if not _csrf_ok(page, data):
        return _csrf_refused(page)
    rid = _record_id(page, record_id)
    return rid if isinstance(rid, Response) else (page, actor, rid)


# ---------------------------------------------------------------- emergency access


@post(RECORD + "/urgence", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def emergency_access(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    """Bris de glace: the reason is mandatory; the access ends by itself (consent.service)."""
    found = _posted_on_record(request, record_id, data)
    if isinstance(found, Response):
        return found
    page, actor, rid = found
    reason = _text(data, "motif")
    if not reason:
        error = page._("Indiquez le motif de l'accès d'urgence : il est obligatoire et communiqué au patient.")
        return _record_page(page, actor, rid, 400, errors={"motif": error})

    def work(db: Session) -> Response[str]:
        consents.break_glass(db, actor, rid, page.edge.runtime.clock.now(), reason=reason)
        return page.redirect(f"/pro/dossier/{rid}")

    def refused(error: DomainError) -> Response[str]:
        message = page._(
            "L'accès d'urgence vous est refusé pour ce dossier (profession non éligible, ou désactivé par le patient)."
        )
        return _record_page(page, actor, rid, 403, errors={"motif": message}, form={"motif": reason})

    return _run(page, work, refused)


# ---------------------------------------------------------------- authorisation, patient present


@post(RECORD + "/autorisation", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def declare_authorisation(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    """The professional declares, with the patient in front of them, an authorisation for
    themselves: care team ("informed, did not object") or the patient's express consent."""
    found = _posted_on_record(request, record_id, data)
    if isinstance(found, Response):
        return found
    page, actor, rid = found
    if not data.get("present"):
        error = page._("Cochez cette case : l'autorisation se déclare en présence du patient.")
        return _record_page(page, actor, rid, 400, errors={"present": error})
    care_team = data.get("base") == "equipe"
    assert actor.rpps is not None

    def work(db: Session) -> Response[str]:
        consents.authorise(
            db, actor, rid, actor.rpps or "", page.edge.runtime.clock.now(), care_team=care_team, patient_present=True
        )
        return page.redirect(f"/pro/dossier/{rid}")

    def refused(error: DomainError) -> Response[str]:
        message = page._("Cette déclaration n'est pas possible : {reason}", reason=error.message)
        if care_team:
            message = page._(CARE_TEAM_REFUSED)
        return _record_page(page, actor, rid, 403, errors={"present": message})

    return _run(page, work, refused)


# ---------------------------------------------------------------- recent exams


@post(RECORD + "/examen", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES)
@threaded
def recent_exam(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    """Was this exam done within its window? Answered as a fragment for htmx, or the whole page."""
    found = _posted_on_record(request, record_id, data)
    if isinstance(found, Response):
        return found
    page, actor, rid = found
    windows = exam_windows()
    system, _sep, code = _text(data, "examen").partition("|")
    window = windows.get((system, code))
    if window is None:
        answer = {"error": page._("Choisissez un examen dans la liste.")}
        return _exam_answer(page, actor, rid, answer, 400)

    def work(db: Session) -> Response[str]:
        hits = documents.recent_exam(db, actor, rid, system, code, window.days, page.edge.runtime.clock.now())
        if hits:
            d = hits[0].document
            text = page._(
                "{label} : un examen de ce type figure déjà dans le dossier, daté du {day} (moins de {days} jours).",
                label=window.label_fr,
                day=i18n.day(d.service_start or d.created_at or d.submitted_at, page.lang),
                days=window.days,
            )
            return _exam_answer(page, actor, rid, {"warning": text, "document": d.id})
        text = page._(
            "{label} : aucun examen de ce type dans les {days} derniers jours.", label=window.label_fr, days=window.days
        )
        return _exam_answer(page, actor, rid, {"notice": text})

    return _run(page, work, lambda _error: _not_found(page, actor))


def _exam_answer(page: Page, actor: Actor, rid: uuid.UUID, answer: dict[str, Any], status: int = 200) -> Response[str]:
    if page.request.headers.get("hx-request") == "true":
        return page.render("pro_exam.html", status, exam=answer)
    return _record_page(page, actor, rid, status, exam=answer)


# ---------------------------------------------------------------- adding a document


def _upload_errors(page: Page, data: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    _ = page._
    errors: dict[str, str] = {}
    code = _text(data, "type")
    kinds = {t.code: t for t in document_types().values()}
    if code not in kinds:
        errors["type"] = _("Choisissez le type du document dans la liste nationale.")
    title = _text(data, "titre")
    if not title:
        errors["titre"] = _("Donnez un titre au document.")
    day = _date(data, "date")
    if day is None:
        errors["date"] = _("Indiquez la date de l'acte (jj/mm/aaaa).")
    upload = data.get("fichier")
    mime = None
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["fichier"] = _("Choisissez le fichier à ajouter (PDF ou CDA).")
    else:
        suffix = "." + upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
        mime = FILE_TYPES.get(suffix)
        if mime is None:
            errors["fichier"] = _("Seuls les documents PDF et CDA (XML) sont acceptés.")
    form = {"type": code, "titre": title, "date": _text(data, "date")}
    return errors, {**form, "mime": mime, "kind": kinds.get(code), "day": day, "upload": upload}


FIELD_OF_ERROR = {"attachment": "fichier", "attachment.contentType": "fichier", "DocumentReference.type": "type"}


@post(RECORD + "/document", status_code=200, include_in_schema=False, request_max_body_size=MAX_UPLOAD_BYTES)
async def add_document(request: Request[Any, Any, Any], record_id: FromPath[str], data: Upload) -> Response[str]:
    upload = data.get("fichier")
    content = await upload.read() if isinstance(upload, UploadFile) else b""
    return await _add_document(request, record_id, data, content)


@threaded
def _add_document(
    request: Request[Any, Any, Any], record_id: str, data: dict[str, Any], content: bytes
) -> Response[str]:
    found = _posted_on_record(request, record_id, data)
    if isinstance(found, Response):
        return found
    page, actor, rid = found
    errors, form = _upload_errors(page, data)
    shown = {k: form[k] for k in ("type", "titre", "date")}
    if errors:
        return _record_page(page, actor, rid, 400, errors=errors, form=shown)
    runtime = page.edge.runtime
    kind, day = form["kind"], form["day"]
    acted = datetime.combine(day, time(12), tzinfo=UTC)
    item = DocumentIn(
        subject=SubjectRef(record_id=rid),
        type_system=kind.system_oid,
        type_code=kind.code,
        title=form["titre"],
        mime_type=form["mime"],
        created_at=acted,
        service_start=acted,
        service_stop=acted,
    )

    notes: list[str] = []

    def work(db: Session) -> Response[str]:
        stored = documents.submit_document(
            db, actor, item, content, runtime.clock.now(), runtime.vault, max_size=runtime.settings.max_document_bytes
        )
        notes.extend(stored.notes)
        return page.redirect("")  # committed: the page is drawn after, in its own transaction

    def refused(error: DomainError) -> Response[str]:
        field = FIELD_OF_ERROR.get(error.field or "", "fichier")
        if error.kind.value == "not-found":
            return _not_found(page, actor)
        message = {
            "fichier": page._(
                "Ce fichier n'a pas pu être ajouté : il n'est pas du type annoncé, ou il est trop volumineux."
            ),
            "type": page._("Ce type de document ne correspond pas au fichier."),
        }[field]
        if error.kind.value == "forbidden":
            message = page._("Vous ne pouvez pas ajouter ce type de document à ce dossier.")
        if error.field == "cda.recordTarget":
            message = page._("Ce document CDA concerne un autre patient que celui de ce dossier.")
        return _record_page(page, actor, rid, 400, errors={field: message}, form=shown)

    answer = _run(page, work, refused)
    if answer.status_code != 303:
        return answer
    added = page._("Le document « {title} » a été ajouté au dossier.", title=form["titre"])
    return _record_page(page, actor, rid, added=added, notes=notes)


ROUTES = [record_page, emergency_access, declare_authorisation, recent_exam, add_document]
