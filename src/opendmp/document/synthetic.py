"""Synthetic documents of the demo (`opendmp demo`): deterministic, spread over the weeks the
records were opened, with the real-world mix of sources and types, and filed one by one through
`document.service.submit_document` (so policy, encryption under the record's key, journal,
notifications and the statistics' counters are those of any document). Professionals first
declare the patient's consent (`consent.service.authorise`, patient present), as they must.

Mix (DOMAIN.md, the seeds' April 2019 figures): 54 % establishments, 30 % patients, 14 % liberal
professionals, 2 % health centres; biology about 37 % of all documents (2023). The reimbursement
history (REMB) comes from the insurer's feed, not from here.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.consent import service as consents
from opendmp.document import service as documents
from opendmp.document.models import AuthorKind, DocumentLookup
from opendmp.fhir.document import AuthorIn, DocumentIn, SubjectRef
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem
from opendmp.identity.models import Organisation, Patient, Professional, ProfessionalActivity
from opendmp.kit.db import unit_of_work
from opendmp.record.models import Record
from opendmp.runtime import Runtime
from opendmp.stats.counters import ESTABLISHMENT_KINDS, HEALTH_CENTRE_KINDS

LOINC = "2.16.840.1.113883.6.1"
NATIONAL = "1.2.250.1.213.1.1.4.12"  # the DMP's own type codes (DOCPAT…, EXPPAT…)
PDF_FORMAT = "urn:ihe:iti:xds-sd:pdf:2008"
# About 1.3 documents a year per record (2023: 239 M documents for ~68 M profiles, 3.5 a year):
# lowered so that `opendmp demo` starts within a minute, each document taking the whole service
# path (~17 ms of CPU here); `opendmp demo --documents-per-week` raises it.
DOCUMENTS_PER_WEEK = 0.025
RECORDS_PER_TRANSACTION = 50

Lines = Callable[[random.Random], list[str]]
T = TypeVar("T")


def _pick(rng: random.Random, values: Sequence[str]) -> str:
    return values[rng.randrange(len(values))]


def _value(rng: random.Random, low: float, high: float, digits: int = 1) -> str:
    return f"{rng.uniform(low, high):.{digits}f}".replace(".", ",")


def _biology(rng: random.Random) -> list[str]:
    return [
        "Prélèvement sanguin veineux à jeun.",
        f"Hémoglobine : {_value(rng, 11.5, 16.5)} g/dL (N : 12,0 - 17,0)",
        f"Leucocytes : {_value(rng, 4.0, 11.0)} G/L (N : 4,0 - 10,0)",
        f"Plaquettes : {rng.randrange(150, 420)} G/L (N : 150 - 400)",
        f"Glycémie à jeun : {_value(rng, 0.75, 1.35, 2)} g/L (N : 0,70 - 1,10)",
        f"Créatinine : {rng.randrange(55, 115)} µmol/L ; DFG (CKD-EPI) {rng.randrange(60, 120)} mL/min/1,73 m²",
        f"Cholestérol LDL : {_value(rng, 0.8, 1.9, 2)} g/L",
        f"TSH : {_value(rng, 0.5, 4.5, 2)} mUI/L",
        "Validé par le biologiste responsable.",
    ]


def _stay(rng: random.Random) -> list[str]:
    reason = _pick(
        rng,
        (
            "pneumopathie communautaire",
            "décompensation cardiaque",
            "pose de prothèse totale de hanche",
            "cholécystite aiguë",
            "malaise avec perte de connaissance",
        ),
    )
    return [
        f"Motif d'hospitalisation : {reason}.",
        f"Durée du séjour : {rng.randrange(2, 12)} jours.",
        "Évolution favorable sous traitement, apyrexie à la sortie.",
        "Traitement de sortie : poursuite du traitement habituel, antalgiques si besoin.",
        "Suivi : consultation avec le médecin traitant sous 15 jours.",
    ]


def _liaison(rng: random.Random) -> list[str]:
    return [
        "Lettre de liaison remise au patient à sa sortie.",
        f"Sortie à domicile le jour J{rng.randrange(1, 8)}, autonome.",
        "Traitements modifiés : voir ordonnance de sortie.",
        "Points de vigilance : surveillance tensionnelle, bilan biologique à 1 semaine.",
    ]


def _imaging(rng: random.Random) -> list[str]:
    exam = _pick(
        rng,
        (
            "Radiographie thoracique de face",
            "Échographie abdominale",
            "IRM du genou droit",
            "Scanner cérébral sans injection",
            "Mammographie bilatérale de dépistage",
        ),
    )
    return [
        f"Examen : {exam}.",
        "Indication : bilan demandé par le médecin traitant.",
        "Technique : examen réalisé dans de bonnes conditions.",
        "Résultat : pas d'anomalie significative décelée.",
        "Conclusion : examen dans les limites de la normale.",
    ]


def _consultation(rng: random.Random) -> list[str]:
    reason = _pick(rng, ("suivi d'hypertension", "douleurs lombaires", "bilan annuel", "toux persistante"))
    return [
        f"Motif : {reason}.",
        f"Examen clinique : TA {rng.randrange(115, 150)}/{rng.randrange(70, 95)} mmHg, "
        f"FC {rng.randrange(58, 90)}/min, poids {rng.randrange(50, 95)} kg.",
        "Conclusion : état stable, pas de modification du traitement.",
        "Prochain rendez-vous dans 3 mois.",
    ]


def _emergency(rng: random.Random) -> list[str]:
    reason = _pick(rng, ("entorse de cheville", "douleur thoracique atypique", "plaie de la main", "gastro-entérite"))
    return [
        f"Motif de passage : {reason}.",
        f"Arrivée à {rng.randrange(0, 24):02d}h{rng.randrange(0, 60):02d}, "
        f"tri infirmier de niveau {rng.randrange(3, 6)}.",
        "Examens : bilan clinique, imagerie si nécessaire.",
        "Orientation : retour à domicile avec consignes de surveillance.",
    ]


def _operation(rng: random.Random) -> list[str]:
    act = _pick(rng, ("appendicectomie sous cœlioscopie", "arthroscopie du genou", "cure de hernie inguinale"))
    return [
        f"Intervention : {act}.",
        "Anesthésie générale, installation en décubitus dorsal.",
        "Déroulement sans incident, pertes sanguines minimes.",
        "Suites opératoires simples attendues.",
    ]


def _prescription(rng: random.Random) -> list[str]:
    drugs = rng.sample(
        [
            "Paracétamol 1 g : 1 comprimé 3 fois par jour si douleur, 5 jours",
            "Ramipril 5 mg : 1 comprimé le matin, 3 mois",
            "Amoxicilline 1 g : 1 comprimé matin et soir, 6 jours",
            "Atorvastatine 20 mg : 1 comprimé le soir, 3 mois",
            "Ibuprofène 400 mg : 1 comprimé au cours du repas si douleur, 3 jours",
        ],
        2,
    )
    return ["Ordonnance.", *drugs, "À renouveler selon avis médical."]


def _patient_note(rng: random.Random) -> list[str]:
    return [
        "Document ajouté par le patient depuis son espace.",
        f"Pages numérisées : {rng.randrange(1, 4)}.",
        "Original conservé par le patient.",
    ]


@dataclass(frozen=True, slots=True)
class Kind:
    """A type of document the generator writes, its weight within its source, its body."""

    type_code: str
    system: str
    title: str
    weight: float
    lines: Lines


# Per source; biology overall: .54 × .40 + .14 × .35 + .30 × .30 ≈ 36 %.
ESTABLISHMENT_TYPES = (
    Kind("11502-2", LOINC, "CR d'examens biologiques", 0.40, _biology),
    Kind("34112-3", LOINC, "CR d'hospitalisation", 0.15, _stay),
    Kind("18748-4", LOINC, "CR d'imagerie médicale", 0.13, _imaging),
    Kind("11490-0", LOINC, "Lettre de liaison à la sortie", 0.12, _liaison),
    Kind("11488-4", LOINC, "CR de consultation", 0.10, _consultation),
    Kind("15507-7", LOINC, "CR de passage aux urgences", 0.06, _emergency),
    Kind("34874-8", LOINC, "CR opératoire", 0.04, _operation),
)
LIBERAL_TYPES = (
    Kind("11488-4", LOINC, "CR de consultation", 0.40, _consultation),
    Kind("11502-2", LOINC, "CR d'examens biologiques", 0.35, _biology),
    Kind("57833-6", LOINC, "Prescription de produits de santé", 0.15, _prescription),
    Kind("18748-4", LOINC, "CR d'imagerie médicale", 0.10, _imaging),
)
HEALTH_CENTRE_TYPES = (Kind("11488-4", LOINC, "CR de consultation", 1.0, _consultation),)
PATIENT_TYPES = (
    Kind("DOCPAT05", NATIONAL, "CR de biologie déposé par le patient", 0.30, _patient_note),
    Kind("DOCPAT03", NATIONAL, "CR déposé par le patient", 0.25, _patient_note),
    Kind("DOCPAT04", NATIONAL, "Imagerie déposée par le patient", 0.15, _patient_note),
    Kind("DOCPAT07", NATIONAL, "Certificat déposé par le patient", 0.10, _patient_note),
    Kind("DOCPAT02", NATIONAL, "Traitement déposé par le patient", 0.10, _patient_note),
    Kind("EXPPAT_2", NATIONAL, "Autre document du patient", 0.10, _patient_note),
)
SOURCE_MIX: tuple[tuple[str, float, tuple[Kind, ...]], ...] = (
    ("establishment", 0.54, ESTABLISHMENT_TYPES),
    ("patient", 0.30, PATIENT_TYPES),
    ("liberal", 0.14, LIBERAL_TYPES),
    ("health-centre", 0.02, HEALTH_CENTRE_TYPES),
)


# ---------------------------------------------------------------- PDF


def _pdf_text(text: str) -> bytes:
    """A PDF literal string in WinAnsi (the standard fonts' encoding): French letters fit."""
    raw = text.replace("\u2019", "'").encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def simple_pdf(title: str, lines: Sequence[str]) -> bytes:
    """A one-page PDF with a bold title and lines of text in Helvetica. Written by hand because
    fpdf2 takes ~12 ms a page here, and the demo makes thousands."""
    text = [b"BT /F2 14 Tf 56 780 Td 16 TL ", _pdf_text(title), b" Tj /F1 10 Tf 0 -10 Td"]
    for line in lines:
        text += [b" T* ", _pdf_text(line[:110]), b" Tj"]
    stream = b"".join([*text, b" ET"])
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Resources<</Font<</F1 4 0 R/F2 5 0 R>>>>/Contents 6 0 R>>",
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>",
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica-Bold/Encoding/WinAnsiEncoding>>",
        b"<</Length %d>>stream\n" % len(stream) + stream + b"\nendstream",
        b"<</Title" + _pdf_text(title) + b"/Producer(OpenDMP demo)>>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R/Info 7 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# ---------------------------------------------------------------- authors


@dataclass(frozen=True, slots=True)
class Author:
    """Who files a document: the submitting actor and the professional named as its author
    (None for the patient's own documents)."""

    submitter: Actor
    professional: Actor | None
    display: str | None


@dataclass(frozen=True, slots=True)
class Authors:
    establishment: list[Author]
    liberal: list[Author]
    health_centre: list[Author]

    def of(self, source: str) -> list[Author]:
        return {"establishment": self.establishment, "liberal": self.liberal, "health-centre": self.health_centre}[
            source
        ]


def load_authors(session: Session) -> Authors:
    """From the directory, in a stable order: establishments file through their software for
    their doctors; liberal doctors (no establishment) and health-centre professionals file as
    themselves."""
    rows = session.execute(
        select(Professional.rpps, Professional.profession, Professional.given, Professional.family, Organisation)
        .outerjoin(ProfessionalActivity, ProfessionalActivity.professional_id == Professional.id)
        .outerjoin(Organisation, Organisation.id == ProfessionalActivity.organisation_id)
        .order_by(Professional.rpps, Organisation.finess)
    ).all()
    establishment: list[Author] = []
    liberal: list[Author] = []
    centre: list[Author] = []
    seen: set[str] = set()
    for rpps, profession, given, family, organisation in rows:
        if rpps in seen:
            continue  # one workplace per professional: the first by FINESS
        seen.add(rpps)
        display = f"{given} {family}"
        if organisation is None:
            if profession == "10":
                person = Actor.professional(rpps, profession, None, display_name=display)
                liberal.append(Author(person, person, display))
            continue
        person = Actor.professional(rpps, profession, organisation.finess, display_name=display)
        if profession == "10" and organisation.kind in ESTABLISHMENT_KINDS:
            software = Actor.software(f"lps-{organisation.finess}", organisation.finess, rpps, profession)
            establishment.append(Author(software, person, display))
        elif organisation.kind in HEALTH_CENTRE_KINDS:
            centre.append(Author(person, person, display))
    return Authors(establishment, liberal, centre)


# ---------------------------------------------------------------- filing


@dataclass(frozen=True, slots=True)
class Planned:
    at: datetime
    source: str
    kind: Kind
    author: Author | None  # None: the patient
    unique_id: str
    lines: list[str]


def _unique_id(rng: random.Random) -> str:
    return f"2.25.{uuid.UUID(int=rng.getrandbits(128), version=4).int}"  # an OID from a UUID (X.667)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: enough for the small means drawn here."""
    limit, n, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        n += 1
        product *= rng.random()
    return n


def _weighted(rng: random.Random, items: Sequence[tuple[float, T]]) -> T:
    total = sum(w for w, _ in items)
    point, acc = rng.random() * total, 0.0
    for weight, item in items:
        acc += weight
        if point < acc:
            return item
    return items[-1][1]


class RecordFiler:
    """Files one record's documents in time order in the caller's transaction: each professional
    author declares the patient's consent at their first document (again if that lapsed); the
    record's facts and data key are loaded once and shared until a new authorisation changes
    them, as a submission set shares them."""

    def __init__(self, session: Session, runtime: Runtime, record_id: uuid.UUID, holder: Actor) -> None:
        self.session, self.runtime, self.record_id, self.holder = session, runtime, record_id, holder
        self.granted: dict[str, datetime] = {}  # RPPS -> end of the authorisation's window
        self.prepared: documents.PreparedRecord | None = None
        self.data_key: bytes | None = None

    def _authorise(self, professional: Actor, at: datetime) -> None:
        assert professional.rpps is not None
        if self.granted.get(professional.rpps, at) > at:
            return
        grant = consents.authorise(
            self.session, professional, self.record_id, professional.rpps, at, patient_present=True
        )
        self.granted[professional.rpps] = grant.expires_at or datetime.max.replace(tzinfo=at.tzinfo)
        if self.prepared is not None:
            self.data_key = self.prepared.data_key  # the key stays; the facts now hold the new grant
        self.prepared = None

    def file(self, planned: Planned, *, notify: bool = False) -> documents.StoredDocument:
        """`notify=False` for the seeded past: nobody is told about history."""
        author = planned.author
        authors: tuple[AuthorIn, ...]
        if author is None:
            submitter, authors = self.holder, (AuthorIn(AuthorKind.PATIENT),)
        else:
            professional = author.professional
            assert professional is not None
            self._authorise(professional, planned.at)
            submitter = author.submitter
            authors = (
                AuthorIn(
                    AuthorKind.PROFESSIONAL,
                    rpps=professional.rpps,
                    finess=professional.organisation,
                    display=author.display,
                ),
            )
        if self.prepared is None:
            self.prepared = documents.PreparedRecord(*consents.record_facts(self.session, self.record_id, planned.at))
            self.prepared.data_key = self.data_key
        item = DocumentIn(
            subject=SubjectRef(record_id=self.record_id),
            type_system=planned.kind.system,
            type_code=planned.kind.type_code,
            unique_id=planned.unique_id,
            title=planned.kind.title,
            format_code=PDF_FORMAT,
            mime_type="application/pdf",
            language="fr-FR",
            created_at=planned.at - timedelta(hours=2),
            authors=authors,
        )
        return documents.submit_document(
            self.session,
            submitter,
            item,
            simple_pdf(planned.kind.title, planned.lines),
            planned.at,
            self.runtime.vault,
            max_size=self.runtime.settings.max_document_bytes,
            notify=notify,
            prepared=self.prepared,
        )


def plan_record(
    rng: random.Random,
    authors: Authors,
    sources: Sequence[tuple[float, tuple[str, tuple[Kind, ...]]]],
    opened_at: datetime,
    until: datetime,
    per_week: float,
) -> list[Planned]:
    """A record's documents: Poisson on the weeks it has been open, at uniform times after its
    opening. A patient has one hospital, one doctor, one health centre: each source's author is
    drawn from the directory at its first document, and keeps filing the record's next ones."""
    span = (until - opened_at).total_seconds()
    if span <= 3600:
        return []
    count = _poisson(rng, per_week * span / (7 * 86400))
    planned: list[Planned] = []
    chosen: dict[str, Author | None] = {"patient": None}
    for at in sorted(opened_at + timedelta(seconds=rng.uniform(3600, span)) for _ in range(count)):
        name, kinds = _weighted(rng, sources)
        kind = _weighted(rng, [(k.weight, k) for k in kinds])
        if name not in chosen:
            pool = authors.of(name)
            chosen[name] = pool[rng.randrange(len(pool))]
        author = chosen[name]
        planned.append(Planned(at, name, kind, author, _unique_id(rng), kind.lines(rng)))
    return planned


@dataclass(frozen=True, slots=True)
class RecordPlan:
    record_id: uuid.UUID
    holder: Actor
    documents: list[Planned]


def plan_documents(
    session: Session, *, seed: int, until: datetime, per_week: float = DOCUMENTS_PER_WEEK
) -> list[RecordPlan]:
    """What `seed_documents` files: a pure function of the store (its records and directory, read
    in a stable order) and the seed. Records without documents are left out."""
    rng = random.Random(f"opendmp-demo-documents:{seed}")  # noqa: S311 - synthetic data, reproducible
    authors = load_authors(session)
    people = session.execute(
        select(Record.id, Record.opened_at, Patient.ins_system, Patient.ins_value)
        .join(Patient, Patient.record_id == Record.id)
        .where(Record.opened_at < until)
        .order_by(Record.opened_at, Record.id)
    ).all()
    sources = [(weight, (name, kinds)) for name, weight, kinds in SOURCE_MIX if name == "patient" or authors.of(name)]
    plans = []
    for record_id, opened_at, ins_system, ins_value in people:
        planned = plan_record(rng, authors, sources, opened_at, until, per_week)
        if planned:
            plans.append(RecordPlan(record_id, Actor.patient(Ins(InsSystem(ins_system), ins_value)), planned))
    return plans


def seed_documents(
    runtime: Runtime,
    *,
    seed: int,
    until: datetime,
    per_week: float = DOCUMENTS_PER_WEEK,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Documents for every record opened before `until`: on average `per_week` for each week it
    has been open, at times between its opening and `until`. Deterministic for a given store and
    seed (which documents, when, by whom, their contents and unique ids; database ids and
    ciphertexts are random by nature). `on_progress(plans done, of plans)`. Returns the count."""
    with runtime.sessions() as session:
        plans = plan_documents(session, seed=seed, until=until, per_week=per_week)
    filed = 0
    for start in range(0, len(plans), RECORDS_PER_TRANSACTION):
        with unit_of_work(runtime.sessions) as session:
            for plan in plans[start : start + RECORDS_PER_TRANSACTION]:
                filer = RecordFiler(session, runtime, plan.record_id, plan.holder)
                for one in plan.documents:
                    filer.file(one)
                filed += len(plan.documents)
        if on_progress:
            on_progress(min(start + RECORDS_PER_TRANSACTION, len(plans)), len(plans))
    return filed


# ---------------------------------------------------------------- the sample patient


def _sample_id(nir: str, index: int) -> str:
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, f'opendmp-demo-sample:{nir}:{index}').int}"


def fill_sample_documents(runtime: Runtime, nir: str, doctor_rpps: str | None, *, seed: int = 0) -> int:
    """The demo's sample patient gets a handful of documents from different authors (hospital
    software for its biologist and its ward doctor, a liberal radiologist, the demo doctor, the
    patient), dated over the last two months: what a new user clicks through first. Run at each
    `opendmp demo` start; files nothing once they exist. Returns how many were filed."""
    now = runtime.clock.now()
    rng = random.Random(f"opendmp-demo-sample:{nir}:{seed}")  # noqa: S311 - synthetic data, reproducible
    with runtime.sessions() as session:
        if session.get(DocumentLookup, _sample_id(nir, 0)) is not None:
            return 0
        patient = session.execute(select(Patient).where(Patient.ins_value == nir).limit(1)).scalar_one_or_none()
        if patient is None:
            return 0
        found = load_authors(session)
        doctor = None
        if doctor_rpps:
            row = session.execute(
                select(Professional.given, Professional.family).where(Professional.rpps == doctor_rpps)
            ).one_or_none()
            if row is not None:
                activity = session.execute(
                    select(Organisation.finess)
                    .join(ProfessionalActivity, ProfessionalActivity.organisation_id == Organisation.id)
                    .join(Professional, Professional.id == ProfessionalActivity.professional_id)
                    .where(Professional.rpps == doctor_rpps)
                    .order_by(Organisation.finess)
                    .limit(1)
                ).scalar_one_or_none()
                person = Actor.professional(doctor_rpps, "10", activity, display_name=f"{row[0]} {row[1]}")
                doctor = Author(person, person, person.display_name)
    others = [a for a in found.establishment if a.professional is None or a.professional.rpps != doctor_rpps]
    liberal = [a for a in found.liberal if a.submitter.rpps != doctor_rpps]
    hospital = others[0] if others else None
    ward = others[1] if len(others) > 1 else hospital
    radiologist = liberal[0] if liberal else ward
    kinds = {k.type_code: k for k in (*ESTABLISHMENT_TYPES, *LIBERAL_TYPES, *PATIENT_TYPES)}
    wanted: list[tuple[int, str, Author | None]] = [
        (58, "34112-3", ward),
        (55, "11490-0", ward),
        (40, "11502-2", hospital),
        (26, "18748-4", radiologist),
        (12, "11488-4", doctor),
        (12, "57833-6", doctor),
        (5, "DOCPAT07", None),
    ]
    holder = Actor.patient(Ins(InsSystem(patient.ins_system), patient.ins_value))
    filed = 0
    with unit_of_work(runtime.sessions) as session:
        filer = RecordFiler(session, runtime, patient.record_id, holder)
        for index, (days_ago, type_code, author) in enumerate(wanted):
            if author is None and not type_code.startswith("DOCPAT"):
                continue  # a directory too small for this author
            kind = kinds[type_code]
            at = (now - timedelta(days=days_ago)).replace(hour=9 + index, minute=rng.randrange(60))
            filer.file(Planned(at, "sample", kind, author, _sample_id(nir, index), kind.lines(rng)))
            filed += 1
    return filed
