"""The credentials letter: what the opener (counter agent, professional, establishment software)
hands the holder at opening: identifier, provisional activation code, its expiry, where and how
to activate. A PDF made in memory and handed to the opener only, never stored: the code exists in
clear nowhere else (the database keeps its digest).

The opener may print it again for a short while (access.policy.LETTER_REPRINT_WINDOW): each print
draws a fresh code, which replaces the previous one, so a lost print is worthless.

People whose record was opened by the insurer's batch or online, and who had no verified contact
to send the code to, get the same letter by post: `mail_pending` draws a fresh code for each
account no code reached yet, once (`opendmp credentials letters` writes the PDFs)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action, CredentialsLetter
from opendmp.auth.account_models import AccountStatus, PatientAccount
from opendmp.auth.hashing import AuthSecrets, group
from opendmp.auth.patients import Credentials, account_of_record, issue_credentials
from opendmp.identity.actor import Actor, ActorKind
from opendmp.record import repository as records_repo
from opendmp.record.errors import RecordNotFound
from opendmp.record.models import Record, RecordStatus

# Who opens with the patient in front of them, and so prints a letter at opening; for the insurer's
# automatic openings and online openings a system step issues the code (record.service.open_record),
# sent to a verified contact or else posted by the insurer's mailing (mail_pending).
LETTER_OPENERS = frozenset({ActorKind.COUNTER_AGENT, ActorKind.PROFESSIONAL, ActorKind.SOFTWARE})
ACTIVATION_PATH = "/activation"


def activation_url(public_base_url: str) -> str:
    return public_base_url.rstrip("/") + ACTIVATION_PATH


def reprint(
    session: Session, actor: Actor, record_id: uuid.UUID, at: datetime, secrets: AuthSecrets
) -> tuple[Credentials, str]:
    """A fresh activation code for the opener's new print, and the holder's name for the letter.
    The policy decides (only the opener, shortly after opening, before activation); the new code
    replaces the previous one and is journaled like any issue (never the code itself)."""
    record = records_repo.get_record(session, record_id)
    patient = records_repo.get_patient(session, record_id) if record is not None else None
    if record is None or patient is None:
        raise RecordNotFound("no such record")
    account = account_of_record(session, record_id)
    target = CredentialsLetter(
        record=records_repo.load_facts(session, record, patient, at),
        opened_by_kind=record.opened_by_kind,
        opened_by=record.opened_by,
        opened_at=record.opened_at,
        activated=account is not None and account.status != AccountStatus.PENDING.value,
    )
    access.require(session, actor, Action.CREDENTIALS_LETTER, target, at)
    credentials = issue_credentials(session, actor, record_id, at, secrets)
    return credentials, f"{patient.given_names} {patient.birth_family}"


@dataclass(frozen=True, slots=True)
class Mailed:
    """One letter of the insurer's mailing: whose account, the fresh code, the holder's name."""

    account_id: uuid.UUID
    credentials: Credentials
    holder_name: str


# Records whose holder may still activate: a closed, suspended or refused record gets no letter.
_MAILABLE = (RecordStatus.ACTIVE.value, RecordStatus.PENDING_OBJECTION.value)


def mail_pending(
    session: Session, actor: Actor, at: datetime, secrets: AuthSecrets, *, limit: int | None = None
) -> list[Mailed]:
    """A fresh activation code for each pending account whose code reached no one (issued by the
    system at an automatic or online opening, without a verified contact), oldest first; each is
    marked delivered by post and journaled on its record's chain (never the code). On PostgreSQL
    the rows are locked and those another mailing holds skipped: two runs never post one person
    twice (SQLite has a single writer)."""
    rows = session.execute(
        select(PatientAccount.id, PatientAccount.record_id)
        .join(Record, Record.id == PatientAccount.record_id)
        .where(
            PatientAccount.status == AccountStatus.PENDING.value,
            PatientAccount.delivery.is_(None),
            Record.status.in_(_MAILABLE),
        )
        .order_by(PatientAccount.created_at, PatientAccount.id)
        .limit(limit)
        .with_for_update(of=PatientAccount, skip_locked=True)
    ).all()
    mailed = []
    for account_id, record_id in rows:
        credentials = issue_credentials(session, actor, record_id, at, secrets, posted=True)
        patient = records_repo.get_patient(session, record_id)
        assert patient is not None  # issue_credentials checked the record and its holder
        mailed.append(Mailed(account_id, credentials, f"{patient.given_names} {patient.birth_family}"))
    return mailed


def _latin1(text: str) -> str:
    # The PDF core fonts speak Latin-1: French letters are in it; anything else is replaced.
    return text.encode("latin-1", "replace").decode("latin-1")


def render(credentials: Credentials, holder_name: str, url: str) -> bytes:
    """The letter, in French, on one A4 page."""
    pdf = FPDF(format="A4")
    pdf.set_title("Activation de votre espace DMP")
    pdf.set_creator("OpenDMP")
    pdf.add_page()
    pdf.set_margins(20, 20, 20)
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def line(text: str, size: int = 11, style: str = "", height: float = 6) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, height, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    line("Dossier Médical Partagé", 16, "B", 9)
    line("Activation de votre espace DMP", 13, "B", 8)
    pdf.ln(4)
    line(f"À l'attention de : {holder_name}")
    pdf.ln(4)
    line("Votre identifiant :", 11, "B")
    line(group(credentials.login_id, 5), 15, "B", 8)
    line("Votre code d'activation provisoire :", 11, "B")
    line(group(credentials.activation_code), 15, "B", 8)
    line(f"Ce code est valable jusqu'au {credentials.expires_at:%d/%m/%Y} et ne sert qu'une seule fois.")
    pdf.ln(4)
    line("Pour activer votre espace :", 11, "B")
    for step in (
        f"1. Rendez-vous sur {url}",
        "2. Saisissez ce code, votre numéro de sécurité sociale et votre date de naissance "
        "(ou le numéro de série de votre carte Vitale).",
        "3. Choisissez un mot de passe, puis indiquez un téléphone portable ou une adresse de courriel : "
        "vous y recevrez un code à chaque connexion.",
    ):
        line(step)
    pdf.ln(4)
    line(
        "Gardez ce courrier pour vous : ne communiquez ce code à personne. Personne ne vous le demandera "
        "par téléphone ni par courriel. Code perdu ou expiré : adressez-vous à un guichet de l'Assurance "
        "Maladie avec votre carte Vitale.",
        10,
    )
    return bytes(pdf.output())
