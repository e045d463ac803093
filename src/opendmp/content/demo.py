"""The demo's sample patient with content worth showing: an emergency summary (blood group,
allergy, treatment, person to notify), advance directives from the questionnaire, vaccinations
(one given by the sample doctor, one declared by the patient) and so what the schedule asks.
Written through the real services, as the patient and the doctor would; once per data set."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from opendmp.consent import service as consents
from opendmp.content import directives
from opendmp.content import service as content
from opendmp.content.models import ContentRow
from opendmp.content.schemas import Allergy, BloodGroup, Note, PersonToNotify, Treatment, Vaccination
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem
from opendmp.identity.models import Patient
from opendmp.kit.db import unit_of_work

ANSWERS = {
    "situation": "Je suis en bonne santé. Ce qui compte pour moi : rester autonome et chez moi.",
    "life_support": "Si je suis dans le coma sans espoir raisonnable de réveil, je refuse le maintien artificiel.",
    "resuscitation": "Je souhaite être réanimé(e) si l'équipe pense que je peux retrouver une vie autonome.",
    "pain_relief": "Je demande que ma douleur soit soulagée, même si cela peut abréger ma vie.",
    "sedation": "J'accepte une sédation profonde et continue si mes souffrances ne peuvent être soulagées.",
    "organ_donation": "J'accepte le don de mes organes et tissus.",
    "trusted_person_name": "Camille DEMO",
    "trusted_person_phone": "+33600000001",
    "free_text": "Je souhaite que mes proches soient prévenus et présents.",
    "written_at": "Paris",
}


def fill_sample(runtime: Any, nir: str, rpps: str) -> bool:
    """Fill the sample patient's record once (False when it already has content or is missing)."""
    now = runtime.clock.now()
    keys = runtime.vault.keys
    with unit_of_work(runtime.sessions) as session:
        patient = session.execute(select(Patient).where(Patient.ins_value == nir).limit(1)).scalar_one_or_none()
        if patient is None:
            return False
        if session.execute(select(ContentRow.id).where(ContentRow.record_id == patient.record_id).limit(1)).first():
            return False
        record_id, born = patient.record_id, patient.birth_date
        holder = Actor.patient(Ins(InsSystem(patient.ins_system), patient.ins_value))
        for data in (
            BloodGroup("278149003"),
            Allergy("764146007", text="Urticaire géante sous pénicilline", criticality="high"),
            Treatment("C09AA05", dosage="Ramipril 5 mg, un comprimé le matin"),
            PersonToNotify("Camille DEMO", "SPS", phone="+33600000001"),
            Note("Porteur(se) de lentilles de contact.", title="À savoir"),
        ):
            content.add_content(session, holder, record_id, data, now, keys)
        directives.write_directives(
            session,
            holder,
            record_id,
            directives.parse_answers(ANSWERS),
            now,
            runtime.vault,
            max_size=runtime.settings.max_document_bytes,
        )
        # The holder authorises the sample doctor, who records the influenza dose they gave.
        consents.authorise(session, holder, record_id, rpps, now)
        content.add_content(session, holder, record_id, Vaccination("J07BD52", _at_least(born, 1)), now, keys)
        doctor = Actor.professional(rpps, "10")
        given = max(born, (now - timedelta(days=200)).date())
        content.add_content(
            session, doctor, record_id, Vaccination("J07BB02", given, lot_number="FLU-DEMO-01"), now, keys
        )
    return True


def _at_least(born: date, years: int) -> date:
    return date(born.year + years, born.month, min(born.day, 28))
