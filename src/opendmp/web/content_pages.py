"""The patient's own content in the patient space, through the content services (content/):
emergency information (blood group, allergies, treatments, people to notify, notes), the
vaccination record with what the French schedule asks now, and the advance directives
questionnaire (the HAS model's headings), filed as an EXPPAT_3 PDF and shown in the viewer.

As everywhere in the patient space: the record in the path, the services decide and journal,
each error next to the form or field that caused it."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy.orm import Session

from opendmp.content import codes as content_codes
from opendmp.content import directives
from opendmp.content import service as content
from opendmp.content.errors import MissingAnswers
from opendmp.content.schemas import (
    Allergy,
    BloodGroup,
    ContentData,
    ContentItem,
    ContentKind,
    Note,
    PersonToNotify,
    Treatment,
    Vaccination,
)
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import DomainError
from opendmp.kit.ids import parse_id
from opendmp.kit.threads import threaded
from opendmp.web.patient_pages import MAX_FORM_BYTES, Form, Page, edge_of
from opendmp.web.record_pages import Holder, _error_message, _missing, _render
from opendmp.web.settings_pages import _get_holder, _posted_holder, holder_page

EMERGENCY_KINDS = (
    ContentKind.BLOOD_GROUP,
    ContentKind.ALLERGY,
    ContentKind.TREATMENT,
    ContentKind.PERSON_TO_NOTIFY,
    ContentKind.NOTE,
)
# The directives form: the trusted person's fields beside the HAS headings.
TRUSTED_FIELDS = ("trusted_person_name", "trusted_person_phone", "trusted_person_email", "no_trusted_person")


def _label(code: content_codes.Code | None, lang: str, fallback: str) -> str:
    if code is None:
        return fallback
    return code.display_en if lang == "en" else code.display_fr


def _choices(use: str, lang: str) -> list[tuple[str, str]]:
    return [(c.code, _label(c, lang, c.code)) for c in content_codes.codes_for(use)]


def _code(use: str, code: str | None) -> content_codes.Code | None:
    return next((c for c in content_codes.codes_for(use) if c.code == code), None) if code else None


def describe(item: ContentItem, lang: str) -> str:
    """One line a person reads for an item of expression libre."""
    data = item.data
    if isinstance(data, BloodGroup):
        return _label(_code("blood-group", data.code), lang, data.code)
    if isinstance(data, Allergy):
        what = data.text or _label(_code("allergen", data.substance_code), lang, data.substance_code or "")
        return what + (f" — {data.reaction}" if data.reaction else "")
    if isinstance(data, Treatment):
        what = data.text or _label(_code("medication", data.medication_code), lang, data.medication_code or "")
        return what + (f" — {data.dosage}" if data.dosage else "")
    if isinstance(data, PersonToNotify):
        relation = _label(_code("relationship", data.relationship), lang, "") if data.relationship else ""
        reach = ", ".join(x for x in (data.phone, data.email) if x)
        return ", ".join(x for x in (data.name, relation, reach) if x)
    if isinstance(data, Note):
        return f"{data.title} : {data.text}" if data.title else data.text
    return ""


def _text(form: dict[str, Any], name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _day(form: dict[str, Any], name: str) -> date | None:
    text = _text(form, name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return date.max  # refused by the schema's own check ("in the future"), named there


def item_of(kind: str, form: dict[str, Any]) -> ContentData | None:
    """The posted form as the content schema (checked by the service)."""
    if kind == ContentKind.BLOOD_GROUP.value:
        return BloodGroup(code=_text(form, "code") or "", observed_on=_day(form, "date"))
    if kind == ContentKind.ALLERGY.value:
        return Allergy(
            substance_code=_text(form, "code"),
            text=_text(form, "texte"),
            criticality=_text(form, "gravite"),
            reaction=_text(form, "reaction"),
        )
    if kind == ContentKind.TREATMENT.value:
        return Treatment(
            medication_code=_text(form, "code"), text=_text(form, "texte"), dosage=_text(form, "posologie")
        )
    if kind == ContentKind.PERSON_TO_NOTIFY.value:
        return PersonToNotify(
            name=_text(form, "nom") or "",
            relationship=_text(form, "lien"),
            phone=_text(form, "telephone"),
            email=_text(form, "courriel"),
        )
    if kind == ContentKind.NOTE.value:
        return Note(text=_text(form, "texte") or "", title=_text(form, "titre"))
    return None


# ---------------------------------------------------------------- emergency information


def _emergency(
    page: Page,
    holder: Holder,
    db: Session,
    status: int = 200,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response[str]:
    runtime = page.edge.runtime
    items = content.list_content(
        db, holder.actor, holder.record.record_id, EMERGENCY_KINDS, runtime.clock.now(), runtime.vault.keys
    )
    by_kind: dict[str, list[dict[str, Any]]] = {k.value: [] for k in EMERGENCY_KINDS}
    for item in items:
        by_kind[item.kind.value].append({"id": item.id, "text": describe(item, page.lang)})
    lang = page.lang
    return _render(
        page,
        holder,
        "record_emergency.html",
        status,
        title=page._("Mes informations d'urgence"),
        notice=notice,
        errors=errors or {},
        items=by_kind,
        blood_groups=_choices("blood-group", lang),
        allergens=_choices("allergen", lang),
        medications=_choices("medication", lang),
        relationships=_choices("relationship", lang),
    )


@get("/dossiers/{record_id:str}/urgence", include_in_schema=False)
@threaded
def emergency_page(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    return holder_page(request, record_id, _emergency)


@post(
    "/dossiers/{record_id:str}/urgence", status_code=200, include_in_schema=False, request_max_body_size=MAX_FORM_BYTES
)
@threaded
def emergency_change(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    """`operation=ajouter` with `type` (blood-group, allergy, treatment, person-to-notify, note)
    and its fields, or `operation=supprimer` with `element` (an item id)."""
    page = Page(edge_of(request), request)
    holder = _posted_holder(page, data, record_id)
    if isinstance(holder, Response):
        return holder
    runtime = page.edge.runtime
    now = runtime.clock.now()
    kind = str(data.get("type") or "")
    _ = page._
    try:
        with unit_of_work(runtime.sessions) as db:
            if data.get("operation") == "supprimer":
                item_id = parse_id(str(data.get("element") or ""))
                if item_id is None:
                    return _missing(page)
                content.delete_content(db, holder.actor, item_id, now)
                notice = _("L'information est supprimée.")
            else:
                item = item_of(kind, data)
                if item is None:
                    return _missing(page)
                content.add_content(db, holder.actor, holder.record.record_id, item, now, runtime.vault.keys)
                notice = _("L'information est ajoutée.")
    except DomainError as error:
        with unit_of_work(runtime.sessions) as db:
            return _emergency(page, holder, db, 400, errors={kind or "form": _error_message(page, error)})
    with unit_of_work(runtime.sessions) as db:
        return _emergency(page, holder, db, notice=notice)


# ---------------------------------------------------------------- vaccinations


def _vaccinations(
    page: Page,
    holder: Holder,
    db: Session,
    status: int = 200,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response[str]:
    runtime = page.edge.runtime
    found = content.vaccination_record(
        db, holder.actor, holder.record.record_id, runtime.clock.now(), runtime.vault.keys
    )
    vaccines = content_codes.vaccines()
    en = page.lang == "en"
    doses = []
    for item in reversed(found.vaccinations):
        if isinstance(item.data, Vaccination):
            vaccine = vaccines.get(item.data.vaccine_code)
            name = (vaccine.display_en if en else vaccine.display_fr) if vaccine else item.data.vaccine_code
            doses.append({"id": item.id, "name": name, "on": item.data.on, "declared": not item.data.primary_source})
    return _render(
        page,
        holder,
        "record_vaccinations.html",
        status,
        title=page._("Mon carnet de vaccination"),
        notice=notice,
        errors=errors or {},
        doses=doses,
        due=[
            {
                "label": d.line.label_en if en else d.line.label_fr,
                "status": d.status.value,
                "due_on": d.due_on,
                "until": d.until,
            }
            for d in found.schedule.due
        ],
        vaccines=sorted(
            ((v.code, v.display_en if en else v.display_fr) for v in vaccines.values()), key=lambda v: v[1]
        ),
        today=runtime.clock.now().date().isoformat(),
    )


@get("/dossiers/{record_id:str}/vaccinations", include_in_schema=False)
@threaded
def vaccinations_page(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    return holder_page(request, record_id, _vaccinations)


@post(
    "/dossiers/{record_id:str}/vaccinations",
    status_code=200,
    include_in_schema=False,
    request_max_body_size=MAX_FORM_BYTES,
)
@threaded
def vaccinations_change(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    """The patient declares a dose they received (`vaccin`, `date`): recorded as declared, not as
    given by a professional (the service sets the provenance)."""
    page = Page(edge_of(request), request)
    holder = _posted_holder(page, data, record_id)
    if isinstance(holder, Response):
        return holder
    runtime = page.edge.runtime
    now = runtime.clock.now()
    _ = page._
    on = _day(data, "date")
    if on is None:
        with unit_of_work(runtime.sessions) as db:
            return _vaccinations(page, holder, db, 400, errors={"date": _("Indiquez la date de la vaccination.")})
    dose = Vaccination(vaccine_code=_text(data, "vaccin") or "", on=on, lot_number=_text(data, "lot"))
    try:
        with unit_of_work(runtime.sessions) as db:
            content.add_content(db, holder.actor, holder.record.record_id, dose, now, runtime.vault.keys)
    except DomainError as error:
        where = "vaccin" if error.field and "vaccineCode" in error.field else "date"
        with unit_of_work(runtime.sessions) as db:
            return _vaccinations(page, holder, db, 400, errors={where: _error_message(page, error)})
    with unit_of_work(runtime.sessions) as db:
        return _vaccinations(page, holder, db, notice=_("La vaccination est ajoutée à votre carnet."))


# ---------------------------------------------------------------- advance directives


def _directives_form(
    page: Page,
    holder: Holder,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response[str]:
    return _render(
        page,
        holder,
        "record_directives.html",
        status,
        title=page._("Mes directives anticipées"),
        headings=[
            (key, page._(title), required) for key, title, required in directives.HEADINGS if key != "trusted_person"
        ],
        values=values or {},
        errors=errors or {},
    )


def _answers_as_form(answers: Any) -> dict[str, str]:
    values = {key: getattr(answers, key) or "" for key, _t, _r in directives.HEADINGS if key != "trusted_person"}
    trusted = answers.trusted_person
    if trusted is not None:
        values.update(
            trusted_person_name=trusted.name,
            trusted_person_phone=trusted.phone or "",
            trusted_person_email=trusted.email or "",
        )
    else:
        values["no_trusted_person"] = "1"
    values["written_at"] = answers.written_at or ""
    return values


@get("/dossiers/{record_id:str}/directives", include_in_schema=False)
@threaded
def directives_page(request: Request[Any, Any, Any], record_id: FromPath[str]) -> Response[str]:
    """The questionnaire, filled with the last version's answers when there is one."""
    page = Page(edge_of(request), request)
    holder = _get_holder(page, record_id)
    if isinstance(holder, Response):
        return holder
    runtime = page.edge.runtime
    try:
        with unit_of_work(runtime.sessions) as db:
            latest = directives.latest_answers(
                db, holder.actor, holder.record.record_id, runtime.clock.now(), runtime.vault
            )
    except DomainError:
        return _missing(page)
    return _directives_form(page, holder, values=_answers_as_form(latest) if latest else None)


@post(
    "/dossiers/{record_id:str}/directives",
    status_code=200,
    include_in_schema=False,
    request_max_body_size=4 * MAX_FORM_BYTES,  # eight free-text answers
)
@threaded
def directives_submit(request: Request[Any, Any, Any], record_id: FromPath[str], data: Form) -> Response[str]:
    page = Page(edge_of(request), request)
    holder = _posted_holder(page, data, record_id)
    if isinstance(holder, Response):
        return holder
    runtime = page.edge.runtime
    _ = page._
    keys = [key for key, _t, _r in directives.HEADINGS if key != "trusted_person"]
    values = {k: str(data.get(k) or "") for k in (*keys, *TRUSTED_FIELDS, "written_at")}
    raw: dict[str, str | None] = dict(values)
    raw["no_trusted_person"] = "true" if data.get("no_trusted_person") == "1" else None
    try:
        answers = directives.parse_answers(raw)
        with unit_of_work(runtime.sessions) as db:
            version = directives.write_directives(
                db,
                holder.actor,
                holder.record.record_id,
                answers,
                runtime.clock.now(),
                runtime.vault,
                max_size=runtime.settings.max_document_bytes,
            )
            document_id = version.stored.document.id
    except MissingAnswers as missing:
        errors = {
            ("trusted_person_name" if f == "trusted_person" else f): _("Cette rubrique est à remplir.")
            for f in missing.fields
        }
        return _directives_form(page, holder, 400, values, errors)
    except DomainError as error:
        field = error.field if error.field in values else "form"
        if error.field == "trusted_person":
            field = "trusted_person_phone"
        return _directives_form(page, holder, 400, values, {field or "form": _error_message(page, error)})
    return page.redirect(f"/documents/{document_id}")


def glance_content(page: Page, db: Session, holder: Holder, loaded: content.Loaded | None = None) -> dict[str, Any]:
    """The emergency summary and the vaccinations due, for the record at a glance (each read
    journaled by its service); empty when the services refuse (a delegate, for instance).
    `loaded`: the record and its policy facts, loaded once for the whole page."""
    runtime = page.edge.runtime
    now = runtime.clock.now()
    record_id = holder.record.record_id
    try:
        loaded = loaded if loaded is not None else content.load(db, record_id, now)
        summary = content.emergency_summary(db, holder.actor, record_id, now, runtime.vault.keys, loaded=loaded)
        record = content.vaccination_record(db, holder.actor, record_id, now, runtime.vault.keys, loaded=loaded)
    except DomainError:
        return {}
    en = page.lang == "en"
    return {
        "emergency": {
            "blood_group": describe(summary.blood_group, page.lang) if summary.blood_group else None,
            "allergies": [describe(i, page.lang) for i in summary.allergies],
            "treatments": [describe(i, page.lang) for i in summary.treatments],
            "people": [describe(i, page.lang) for i in summary.people_to_notify],
            "directives": summary.advance_directives.document_id if summary.advance_directives else None,
        },
        "due": [
            {"label": d.line.label_en if en else d.line.label_fr, "status": d.status.value, "due_on": d.due_on}
            for d in record.schedule.due
            if d.status.value in ("due", "overdue")
        ][:5],
    }


ROUTES = [
    emergency_page,
    emergency_change,
    vaccinations_page,
    vaccinations_change,
    directives_page,
    directives_submit,
]
