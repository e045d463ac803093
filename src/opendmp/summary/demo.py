"""The demo's sample patient gets a VSM: its holder designates the demo doctor as médecin
traitant, who writes the summary (through the same services as anyone, so policy, journal,
encryption and counters apply). Run at each `opendmp demo` start; does nothing once a VSM exists."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from opendmp.consent import service as consents
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem
from opendmp.identity.models import Patient
from opendmp.kit.db import unit_of_work
from opendmp.record import repository as records_repo
from opendmp.runtime import Runtime
from opendmp.summary import service as summaries
from opendmp.summary.forms import (
    Allergy,
    Antecedent,
    AntecedentKind,
    Severity,
    Treatment,
    VsmIn,
)

DEMO_VSM = VsmIn(
    antecedents=(
        Antecedent(AntecedentKind.MEDICAL, "Hypertension artérielle", "I10", date(2016, 4, 1)),
        Antecedent(AntecedentKind.MEDICAL, "Asthme de l'enfance", "J45"),
        Antecedent(AntecedentKind.SURGICAL, "Appendicectomie", None, date(1998, 9, 1)),
        Antecedent(AntecedentKind.FAMILY, "Diabète de type 2 chez la mère"),
    ),
    treatments=(Treatment("Ramipril 5 mg", "1 comprimé le matin", "C09AA05", date(2016, 4, 1)),),
    allergies=(Allergy("Pénicilline", "urticaire", Severity.MODERATE),),
    risk_factors=("hypertension", "family-cardiovascular"),
    vaccination_notes="Rappel dTP fait en 2021.",
    care_plan="Contrôle tensionnel tous les 6 mois, bilan lipidique annuel.",
)


def write_demo_vsm(runtime: Runtime, nir: str, doctor: Actor) -> bool:
    """True when a VSM was written now."""
    with unit_of_work(runtime.sessions) as session:
        patient = session.execute(select(Patient).where(Patient.ins_value == nir).limit(1)).scalar_one_or_none()
        if patient is None or summaries.current_version(session, patient.record_id, "vsm") is not None:
            return False
        record_id, now = patient.record_id, runtime.clock.now()
        _, facts = records_repo.visible_facts(session, record_id, now)
        if facts.medecin_traitant != doctor.rpps:
            holder = Actor.patient(Ins(InsSystem(patient.ins_system), patient.ins_value))
            consents.designate_medecin_traitant(session, holder, record_id, doctor.rpps, now)
    with unit_of_work(runtime.sessions) as session:
        summaries.submit_vsm(
            session,
            doctor,
            record_id,
            DEMO_VSM,
            runtime.clock.now(),
            runtime.vault,
            max_size=runtime.settings.max_document_bytes,
        )
    return True
