"""The VSM reminder: the médecin traitant hears once that the VSM is over a year old, not at every
run of the job; a new version starts a new year."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from opendmp.consent import service as consents
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem
from opendmp.jobs import run_jobs
from opendmp.journal.service import entries_of
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.notify import service as notifications
from opendmp.notify.models import OutboxMessage
from opendmp.record import repository as records_repo
from opendmp.record import service as records
from opendmp.runtime import Runtime
from opendmp.summary import service as summaries
from opendmp.summary.forms import Antecedent, AntecedentKind, VsmIn
from opendmp.summary.models import ClinicalSummary
from tests import factories as f
from tests.fhir.test_summaries import GP, OTHER_DOCTOR, a_record

FORM = VsmIn(antecedents=(Antecedent(AntecedentKind.MEDICAL, "Asthme", "J45"),), no_known_allergies=True)


def file_vsm(runtime: Runtime, record_id: object) -> None:
    with unit_of_work(runtime.sessions) as session:
        summaries.submit_vsm(
            session,
            GP,
            record_id,
            FORM,
            runtime.clock.now(),
            runtime.vault,
            max_size=1_000_000,  # type: ignore[arg-type]
        )


def reminders_to(runtime: Runtime, rpps: str) -> list[OutboxMessage]:
    with runtime.sessions() as session:
        return list(
            session.execute(
                select(OutboxMessage).where(
                    OutboxMessage.category == "vsm-reminder", OutboxMessage.recipient_ref == rpps
                )
            ).scalars()
        )


def test_the_medecin_traitant_is_reminded_once_when_the_vsm_turns_one_year_old(
    runtime: Runtime, clock: FrozenClock
) -> None:
    record_id, _ = a_record(runtime)
    with unit_of_work(runtime.sessions) as session:
        notifications.set_professional_contact(session, f.OPERATOR, GP.id, "dr.moreau@medecin.mssante.fr", clock.now())
    file_vsm(runtime, record_id)
    context = runtime.job_context()
    clock.advance(timedelta(days=364))
    run_jobs(context, clock.now(), ["vsm-reminder"])
    assert reminders_to(runtime, GP.id) == []
    clock.advance(timedelta(days=2))
    [result] = run_jobs(context, clock.now(), ["vsm-reminder"])
    assert (result.done, result.failed) == (1, 0)
    clock.advance(timedelta(days=30))
    run_jobs(context, clock.now(), ["vsm-reminder"])
    run_jobs(context, clock.now(), ["vsm-reminder"])
    [message] = reminders_to(runtime, GP.id)
    assert message.address == "dr.moreau@medecin.mssante.fr"
    assert "plus d'un an" in message.body and "MARTIN" in message.body
    with runtime.sessions() as session:
        traced = [e for e in entries_of(session, record_id) if e.action == "summary:vsm-reminder"]
    assert len(traced) == 1

    # A new version starts its own year: one more reminder a year after it, not before.
    file_vsm(runtime, record_id)
    clock.advance(timedelta(days=200))
    run_jobs(context, clock.now(), ["vsm-reminder"])
    assert len(reminders_to(runtime, GP.id)) == 1
    clock.advance(timedelta(days=170))
    run_jobs(context, clock.now(), ["vsm-reminder"])
    assert len(reminders_to(runtime, GP.id)) == 2


def test_the_reminder_goes_to_the_current_medecin_traitant(runtime: Runtime, clock: FrozenClock) -> None:
    record_id, _ = a_record(runtime)
    file_vsm(runtime, record_id)
    with unit_of_work(runtime.sessions) as session:
        patient = records_repo.get_patient(session, record_id)
        assert patient is not None
        holder = Actor.patient(Ins(InsSystem(patient.ins_system), patient.ins_value))
        consents.designate_medecin_traitant(session, holder, record_id, OTHER_DOCTOR.id, clock.now())
        notifications.set_professional_contact(session, f.OPERATOR, OTHER_DOCTOR.id, "dr.petit@mssante.fr", clock.now())
    clock.advance(timedelta(days=400))
    run_jobs(runtime.job_context(), clock.now(), ["vsm-reminder"])
    assert reminders_to(runtime, GP.id) == []
    assert len(reminders_to(runtime, OTHER_DOCTOR.id)) == 1


def test_no_reminder_reaches_a_former_medecin_traitant_or_a_blocked_one(runtime: Runtime, clock: FrozenClock) -> None:
    """The message names the patient: it goes to the current médecin traitant only."""
    record_id, _ = a_record(runtime)
    file_vsm(runtime, record_id)
    with unit_of_work(runtime.sessions) as session:
        patient = records_repo.get_patient(session, record_id)
        assert patient is not None
        holder = Actor.patient(Ins(InsSystem(patient.ins_system), patient.ins_value))
        consents.designate_medecin_traitant(session, holder, record_id, None, clock.now())
        consents.block(session, holder, record_id, GP.id, clock.now())
    clock.advance(timedelta(days=400))
    run_jobs(runtime.job_context(), clock.now(), ["vsm-reminder"])
    assert reminders_to(runtime, GP.id) == []


def test_a_purge_deletes_the_structured_copies_and_a_merge_reseals_them_for_the_survivor(
    runtime: Runtime, clock: FrozenClock
) -> None:
    # A merge: the duplicate's VSM copy follows its document, readable under the survivor's key.
    nia, traits = f.person(system=InsSystem.NIA, order=620)
    duplicate, _ = a_record_for(runtime, nia, traits)
    file_vsm(runtime, duplicate)
    survivor = f.open_record(runtime, Actor.counter_agent("a"), Ins(InsSystem.NIR, nia.value), traits).record.id
    with unit_of_work(runtime.sessions) as session:
        records.merge_records(session, f.OPERATOR, survivor, duplicate, clock.now(), runtime.vault)
        holder = Actor.patient(Ins(InsSystem.NIR, nia.value))
        view = summaries.read_summary(session, holder, survivor, "vsm", clock.now(), runtime.vault)
    assert view.copy["form"]["antecedents"][0]["label"] == "Asthme"

    # A purge: the copies go with the documents.
    with unit_of_work(runtime.sessions) as session:
        records.close_record(session, holder, survivor, clock.now())
    clock.advance(timedelta(days=3653))
    run_jobs(runtime.job_context(), clock.now(), ["purge"])
    with runtime.sessions() as session:
        assert session.execute(select(ClinicalSummary)).scalars().all() == []


def a_record_for(runtime: Runtime, ins: Ins, traits: object) -> tuple[object, Ins]:
    """A record of this person whose médecin traitant is GP."""
    f.add_professional(runtime, GP.id, "10", family="MOREAU", given="Claire")
    view = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits)  # type: ignore[arg-type]
    with unit_of_work(runtime.sessions) as session:
        consents.designate_medecin_traitant(session, Actor.patient(ins), view.record.id, GP.id, runtime.clock.now())
    return view.record.id, ins
