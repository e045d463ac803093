"""The readable body of a VSM or DLU: a PDF made in memory with fpdf2's core fonts (pure Python,
no system dependency), in French."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from fpdf import FPDF

from opendmp.summary.forms import RISK_FACTORS, Allergy, Antecedent, Contact, DluIn, Treatment, VsmIn

KIND_LABELS = {"medical": "Médical", "surgical": "Chirurgical", "family": "Familial"}
SEVERITY_LABELS = {"mild": "légère", "moderate": "modérée", "severe": "sévère"}


@dataclass(frozen=True, slots=True)
class Heading:
    """Who and when, printed at the top of the page."""

    title: str
    patient: str
    birth_date: date
    ins: str
    author: str
    organisation: str | None
    written_at: datetime
    version: int


def _latin1(text: str) -> str:
    # The core fonts speak Latin-1: French letters are in it; typographic quotes are mapped,
    # anything else is replaced.
    text = text.replace("\u2019", "'").replace("\u0153", "oe").replace("\u0152", "OE").replace("\u2013", "-")
    return text.encode("latin-1", "replace").decode("latin-1")


class _Page:
    def __init__(self, heading: Heading) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_title(_latin1(heading.title))
        self.pdf.set_creator("OpenDMP")
        self.pdf.add_page()
        self.pdf.set_margins(18, 18, 18)
        self.width = self.pdf.w - self.pdf.l_margin - self.pdf.r_margin
        self.line(heading.title, 15, "B", 8)
        self.line(f"Patient : {heading.patient}, né(e) le {heading.birth_date:%d/%m/%Y} - INS {heading.ins}", 10)
        where = f" ({heading.organisation})" if heading.organisation else ""
        self.line(
            f"Rédigé par {heading.author}{where}, le {heading.written_at:%d/%m/%Y} - version {heading.version}", 10
        )

    def line(self, text: str, size: int = 10, style: str = "", height: float = 5) -> None:
        self.pdf.set_font("Helvetica", style, size)
        self.pdf.multi_cell(self.width, height, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def section(self, title: str, lines: Iterable[str], empty: str = "Néant") -> None:
        self.pdf.ln(3)
        self.line(title, 12, "B", 7)
        written = False
        for text in lines:
            self.line(f"- {text}")
            written = True
        if not written:
            self.line(empty, style="I")

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _since(value: date | None) -> str:
    return f" (depuis {value:%m/%Y})" if value else ""


def _antecedents(items: Iterable[Antecedent]) -> list[str]:
    return [
        f"{KIND_LABELS[a.kind.value]} : {a.label}{f' [{a.code}]' if a.code else ''}{_since(a.since)}" for a in items
    ]


def _treatments(items: Iterable[Treatment]) -> list[str]:
    return [f"{t.label}{f', {t.dosage}' if t.dosage else ''}{_since(t.since)}" for t in items]


def _allergies(items: tuple[Allergy, ...], none_known: bool) -> list[str]:
    if none_known:
        return ["Aucune allergie connue"]
    return [
        f"{a.substance}{f' : {a.reaction}' if a.reaction else ''}"
        f"{f' ({SEVERITY_LABELS[a.severity.value]})' if a.severity else ''}"
        for a in items
    ]


def _contact(label: str, contact: Contact | None) -> list[str]:
    if contact is None:
        return []
    details = ", ".join(x for x in (contact.relationship, contact.phone) if x)
    return [f"{label} : {contact.name}{f' ({details})' if details else ''}"]


def render_vsm(heading: Heading, form: VsmIn) -> bytes:
    page = _Page(heading)
    page.section("Antécédents", _antecedents(form.antecedents))
    page.section("Traitement habituel", _treatments(form.treatments))
    page.section("Allergies et intolérances", _allergies(form.allergies, form.no_known_allergies))
    page.section("Facteurs de risque", [RISK_FACTORS[code] for code in form.risk_factors])
    if form.vaccination_notes:
        page.section("Vaccinations", [form.vaccination_notes])
    page.section("Plan de soins", [form.care_plan] if form.care_plan else [])
    if form.comments:
        page.section("Commentaires", [form.comments])
    return page.output()


def render_dlu(heading: Heading, form: DluIn) -> bytes:
    page = _Page(heading)
    page.section(
        "Contacts",
        [
            f"EHPAD : {heading.organisation or ''} - {form.ehpad_phone}",
            *_contact("Personne de confiance", form.trusted_person),
            *_contact("Famille", form.family_contact),
            *_contact("Médecin traitant", form.medecin_traitant),
        ],
    )
    directives = "Oui" if form.advance_directives else "Non"
    if form.advance_directives_location:
        directives += f" - où les trouver : {form.advance_directives_location}"
    page.section("Directives anticipées", [directives])
    page.section("Antécédents", _antecedents(form.antecedents))
    page.section("Traitement en cours", _treatments(form.treatments))
    page.section("Allergies et intolérances", _allergies(form.allergies, form.no_known_allergies))
    autonomy = [f"GIR {form.gir}"] if form.gir else []
    page.section("Autonomie", [*autonomy, *([form.autonomy_notes] if form.autonomy_notes else [])], "Non renseignée")
    page.section("Événements récents", [f"{e.on:%d/%m/%Y} : {e.description}" for e in form.recent_events])
    if form.comments:
        page.section("Commentaires", [form.comments])
    return page.output()
