"""Advance directives (directives anticipées, CSP L1111-11, R1111-17 to R1111-20) written through
the questionnaire of the HAS model: the answers are checked (each missing mandatory answer named),
turned into a PDF and filed as a document of type EXPPAT_3, a new version replacing the previous
one (relatesTo.replaces; history kept). Only the holder does this: the policy refuses EXPPAT_3 to
everyone else, uploads included (docs/decisions/0023)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from fpdf import FPDF
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import ADVANCE_DIRECTIVES_TYPE, Action, NewDocument, PatientContent, purpose_of
from opendmp.content import repository as repo
from opendmp.content import service as content
from opendmp.content.errors import MissingAnswers
from opendmp.content.models import ACTIVE, SUPERSEDED, ContentRow
from opendmp.content.schemas import (
    MAX_TEXT,
    ContentKind,
    DirectivesAnswers,
    DirectivesRecord,
    PersonToNotify,
    TrustedPerson,
)
from opendmp.document import service as documents
from opendmp.document.codes import document_type
from opendmp.document.models import AuthorKind
from opendmp.document.vault import Vault
from opendmp.fhir.document import AuthorIn, DocumentIn, SubjectRef
from opendmp.identity.actor import Actor
from opendmp.identity.models import Patient
from opendmp.journal import service as journal
from opendmp.kit.errors import InvalidInput
from opendmp.kit.ids import new_id

# The questionnaire's headings in the order of the HAS model, with their French titles. The keys
# are the linkIds of the FHIR QuestionnaireResponse and the CLI's/portal's field names.
HEADINGS: tuple[tuple[str, str, bool], ...] = (
    ("situation", "Ma situation (état de santé, ce qui compte pour moi)", True),
    (
        "life_support",
        "Maintien artificiel des fonctions vitales (ventilation, dialyse, nutrition et hydratation artificielles)",
        True,
    ),
    ("resuscitation", "Réanimation (massage cardiaque, intubation) en cas d'arrêt cardiaque ou respiratoire", True),
    ("pain_relief", "Soulagement de la douleur et des souffrances, même si cela peut abréger ma vie", True),
    ("sedation", "Sédation profonde et continue jusqu'au décès", True),
    ("organ_donation", "Don d'organes et de tissus (facultatif)", False),
    ("trusted_person", "Ma personne de confiance", True),
    ("free_text", "Ce que je souhaite ajouter (texte libre)", True),
)
EXPPAT_SYSTEM = "1.2.250.1.213.1.1.4.12"  # TRE_A05-TypeDocComplementaire
MANDATORY = tuple(key for key, _, required in HEADINGS if required)


def parse_answers(raw: Mapping[str, str | None]) -> DirectivesAnswers:
    """Answers keyed by heading (trusted person: `trusted_person_name`, `_phone`, `_email`, or
    `no_trusted_person` = "true" when the patient names none). Every missing mandatory answer is
    named at once."""

    def answer(key: str) -> str | None:
        value = raw.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    missing = [key for key in MANDATORY if key != "trusted_person" and answer(key) is None]
    name = answer("trusted_person_name")
    none_named = (answer("no_trusted_person") or "").lower() in ("true", "yes", "oui", "1")
    if name is None and not none_named:
        missing.insert(MANDATORY.index("trusted_person"), "trusted_person")
    if missing:
        raise MissingAnswers(missing)
    for key in (*MANDATORY, "organ_donation", "trusted_person_name", "written_at"):
        value = answer(key)
        if value is not None and len(value) > MAX_TEXT:
            raise InvalidInput(f"the answer {key} is at most {MAX_TEXT} characters", field=key)
    trusted = None
    if name is not None:
        phone, email = answer("trusted_person_phone"), answer("trusted_person_email")
        # The same checks as a person to notify (a phone or an email to reach them).
        PersonToNotify(name, None, phone, email).check_contact("trusted_person")
        trusted = TrustedPerson(name, phone, email)
    return DirectivesAnswers(
        situation=str(answer("situation")),
        life_support=str(answer("life_support")),
        resuscitation=str(answer("resuscitation")),
        pain_relief=str(answer("pain_relief")),
        sedation=str(answer("sedation")),
        trusted_person=trusted,
        free_text=str(answer("free_text")),
        organ_donation=answer("organ_donation"),
        written_at=answer("written_at"),
    )


@dataclass(frozen=True, slots=True)
class DirectivesVersion:
    stored: documents.StoredDocument
    answers: DirectivesAnswers
    replaced: uuid.UUID | None


def write_directives(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    answers: DirectivesAnswers,
    now: datetime,
    vault: Vault,
    *,
    max_size: int,
) -> DirectivesVersion:
    """File the questionnaire's answers as the record's advance directives (a new version when
    some exist already, uploaded or generated). The holder alone: asked before anything is made."""
    loaded = content._load(session, record_id, now, for_update=True)
    access.require(session, actor, Action.DOCUMENT_CREATE, NewDocument(loaded.facts, ADVANCE_DIRECTIVES_TYPE), now)
    current = repo.current_directives(session, record_id)
    pdf = render_pdf(answers, loaded.patient, now, version=(current.version + 1) if current else 1)
    doc_type = document_type(f"urn:oid:{EXPPAT_SYSTEM}", ADVANCE_DIRECTIVES_TYPE, field="type")
    item = DocumentIn(
        subject=SubjectRef(record_id=record_id),
        type_system=doc_type.system_oid,
        type_code=ADVANCE_DIRECTIVES_TYPE,
        title="Directives anticipées",
        mime_type="application/pdf",
        language="fr-FR",
        created_at=now,
        authors=(AuthorIn(AuthorKind.PATIENT),),
        replaces=current.id if current is not None else None,
    )
    stored = documents.submit_document(session, actor, item, pdf, now, vault, max_size=max_size)
    # The answers themselves, sealed, so the summary can name the trusted person and a new version
    # can start from the last one.
    decision = access.require(
        session, actor, Action.CONTENT_WRITE, PatientContent(loaded.facts, ContentKind.ADVANCE_DIRECTIVES.value), now
    )
    for earlier in repo.active_of(session, record_id, [ContentKind.ADVANCE_DIRECTIVES.value]):
        earlier.status, earlier.updated_at = SUPERSEDED, now  # kept, sealed, as the history
    record = DirectivesRecord(stored.document.id, stored.document.version, answers)
    item_id = new_id()
    session.add(
        ContentRow(
            id=item_id,
            record_id=record_id,
            kind=ContentKind.ADVANCE_DIRECTIVES.value,
            status=ACTIVE,
            version=1,
            recorded_at=now,
            recorded_by_kind=actor.kind.value,
            recorded_by=actor.id,
            updated_at=now,
            sealed=content._seal(vault.keys, record_id, item_id, record),
        )
    )
    journal.append(
        session,
        actor,
        journal.Event(
            "content:create",
            "content",
            str(item_id),
            reason=f"kind={ContentKind.ADVANCE_DIRECTIVES.value};document={stored.document.id}",
            purpose=purpose_of(decision),
        ),
        record_id=record_id,
        at=now,
    )
    session.flush()
    return DirectivesVersion(stored, answers, current.id if current is not None else None)


def latest_answers(
    session: Session, actor: Actor, record_id: uuid.UUID, now: datetime, vault: Vault
) -> DirectivesAnswers | None:
    """The answers behind the last questionnaire (to start a new version from), for the holder."""
    items = content.list_content(session, actor, record_id, [ContentKind.ADVANCE_DIRECTIVES], now, vault.keys)
    records = [i.data for i in items if isinstance(i.data, DirectivesRecord)]
    return records[-1].answers if records else None


def _latin1(text: str) -> str:
    # The PDF core fonts speak Latin-1: French letters are in it (œ and typographic quotes are not).
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("’", "'").replace("«", '"').replace("»", '"')
    return text.encode("latin-1", "replace").decode("latin-1")


def render_pdf(answers: DirectivesAnswers, patient: Patient, now: datetime, *, version: int) -> bytes:
    """The directives as the patient wrote them, in French, headed by the HAS model's headings."""
    pdf = FPDF(format="A4")
    pdf.set_title("Directives anticipées")
    pdf.set_creator("OpenDMP")
    pdf.set_creation_date(now)
    pdf.add_page()
    pdf.set_margins(20, 20, 20)
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def line(text: str, size: int = 11, style: str = "", height: float = 6) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, height, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    line("Directives anticipées", 16, "B", 9)
    line(f"{patient.given_names} {patient.birth_family}, né(e) le {patient.birth_date:%d/%m/%Y}")
    line(f"Version {version}, rédigée le {now:%d/%m/%Y}" + (f" à {answers.written_at}" if answers.written_at else ""))
    line(
        "Articles L1111-11 et R1111-17 à R1111-20 du code de la santé publique. Ces directives "
        "s'imposent au médecin, sauf urgence vitale le temps d'évaluer la situation ou si elles "
        "apparaissent manifestement inappropriées. Je peux les modifier ou les annuler à tout moment.",
        9,
    )
    pdf.ln(3)
    for key, title, _ in HEADINGS:
        line(title, 12, "B", 7)
        if key == "trusted_person":
            person = answers.trusted_person
            if person is None:
                line("Je ne désigne pas de personne de confiance.")
            else:
                contact = ", ".join(x for x in (person.phone, person.email) if x)
                line(f"{person.name}" + (f" ({contact})" if contact else ""))
        else:
            value = getattr(answers, key)
            line(value if value else "Pas de réponse.")
        pdf.ln(2)
    return bytes(pdf.output())
