"""The patient's content through the real services and database (both): who writes and reads
expression libre, vaccinations and advance directives, what is journaled, what bad input leaves."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from opendmp.consent import service as consents
from opendmp.content import directives
from opendmp.content import service as content
from opendmp.content.errors import ContentConflict, MissingAnswers, StaleVersion
from opendmp.content.models import ContentRow
from opendmp.content.schemas import (
    Allergy,
    BloodGroup,
    ContentKind,
    Note,
    PersonToNotify,
    Treatment,
    Vaccination,
)
from opendmp.document import service as documents
from opendmp.document.models import Document
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.journal.models import JournalEntry
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import AccessDenied, HiddenFromActor, InvalidInput
from opendmp.record import service as records
from opendmp.runtime import Runtime
from tests import factories as f

DOCTOR = Actor.professional("10000000002", "10")
STRANGER = Actor.professional("10000000003", "10")
PHYSIO = Actor.professional("10000000004", "70")
EMERGENCY_DOCTOR = Actor.professional("10000000006", "10")
A_POS = "278149003"
PENICILLIN = "764146007"
HEXAVALENT = "J07CA09"

ANSWERS = {
    "situation": "Je vis seule, en bonne santé.",
    "life_support": "Je refuse le maintien artificiel si je ne peux plus communiquer.",
    "resuscitation": "Pas de réanimation après 80 ans.",
    "pain_relief": "Soulager ma douleur, même si cela abrège ma vie.",
    "sedation": "J'accepte une sédation profonde et continue.",
    "trusted_person_name": "Jeanne MARTIN",
    "trusted_person_phone": "0612345678",
    "free_text": "Je souhaite mourir chez moi si possible.",
}


@pytest.fixture
def record(runtime: Runtime) -> tuple[Ins, uuid.UUID]:
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits).record.id
    for actor in (DOCTOR, STRANGER, PHYSIO, EMERGENCY_DOCTOR):
        f.add_professional(runtime, actor.id, actor.profession or "10")
    f.authorise(runtime, record_id, DOCTOR, PHYSIO)
    return ins, record_id


def run(runtime: Runtime, use_case: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    with unit_of_work(runtime.sessions) as session:
        return use_case(session, *args, runtime.clock.now(), **kw)


def add(runtime: Runtime, actor: Actor, record_id: uuid.UUID, data: Any) -> Any:
    return run(runtime, content.add_content, actor, record_id, data, keys=runtime.vault.keys)


def journal(runtime: Runtime, record_id: uuid.UUID) -> list[tuple[str, str, str]]:
    with unit_of_work(runtime.sessions) as session:
        rows = session.execute(
            select(JournalEntry).where(JournalEntry.chain == record_id.hex).order_by(JournalEntry.seq)
        ).scalars()
        return [(e.action or "", e.outcome or "", e.actor_id or "") for e in rows]


def count_items(runtime: Runtime, record_id: uuid.UUID) -> int:
    with unit_of_work(runtime.sessions) as session:
        return session.execute(select(func.count()).where(ContentRow.record_id == record_id)).scalar_one()


def test_the_holder_writes_expression_libre_sealed_under_the_records_key(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    holder = Actor.patient(ins)
    item = add(runtime, holder, record_id, Allergy(PENICILLIN, text="Pénicilline : œdème", criticality="high"))
    with unit_of_work(runtime.sessions) as session:
        sealed = session.get(ContentRow, item.id)
        assert sealed is not None and "œdème".encode() not in sealed.sealed and PENICILLIN.encode() not in sealed.sealed
    read = run(runtime, content.get_content, holder, item.id, keys=runtime.vault.keys)
    assert read.data == Allergy(PENICILLIN, text="Pénicilline : œdème", criticality="high")
    assert ("content:create", "success", ins.value) in journal(runtime, record_id)
    assert ("content:read", "success", ins.value) in journal(runtime, record_id)


def test_a_legal_representative_writes_a_minors_expression_libre(runtime: Runtime) -> None:
    ins, traits = f.minor(runtime.clock.now().date())
    parent = records.RepresentativeIn(f.person(born=date(1980, 1, 1))[0], "MARTIN", "JEAN")
    record_id = f.open_record(runtime, Actor.counter_agent("a"), ins, traits, representatives=(parent,)).record.id
    add(runtime, Actor.patient(parent.ins), record_id, PersonToNotify("Jean MARTIN", "FTH", phone="0611223344"))
    items = run(
        runtime,
        content.list_content,
        Actor.patient(ins),
        record_id,
        [ContentKind.PERSON_TO_NOTIFY],
        keys=runtime.vault.keys,
    )
    assert [i.data.name for i in items] == ["Jean MARTIN"]


def test_professionals_never_write_expression_libre(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    _, record_id = record
    with pytest.raises(AccessDenied):
        add(runtime, DOCTOR, record_id, Treatment("A10BA02", dosage="1000 mg x2"))
    assert count_items(runtime, record_id) == 0
    assert ("content:write", "denied", DOCTOR.id) in journal(runtime, record_id)


def test_an_authorised_doctor_reads_allergies_an_unauthorised_one_finds_no_patient(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    add(runtime, Actor.patient(ins), record_id, Allergy(text="Fraises", category="intolerance"))
    found = run(runtime, content.list_content, DOCTOR, record_id, [ContentKind.ALLERGY], keys=runtime.vault.keys)
    assert [i.data.text for i in found] == ["Fraises"]
    with pytest.raises(HiddenFromActor):
        run(runtime, content.list_content, STRANGER, record_id, [ContentKind.ALLERGY], keys=runtime.vault.keys)
    assert ("content:read", "denied", STRANGER.id) in journal(runtime, record_id)


@pytest.mark.parametrize(
    "actor", [Actor.insurer_feed(), Actor.counter_agent("agent"), Actor.operator("op")], ids=lambda a: a.kind.value
)
def test_the_insurer_counter_agents_and_operators_never_read_content(
    runtime: Runtime, record: tuple[Ins, uuid.UUID], actor: Actor
) -> None:
    ins, record_id = record
    add(runtime, Actor.patient(ins), record_id, BloodGroup(A_POS))
    with pytest.raises(HiddenFromActor):
        run(runtime, content.emergency_summary, actor, record_id, keys=runtime.vault.keys)
    with pytest.raises(HiddenFromActor):
        run(runtime, content.list_content, actor, record_id, [ContentKind.BLOOD_GROUP], keys=runtime.vault.keys)


def test_emergency_access_reads_the_emergency_summary(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    holder = Actor.patient(ins)
    add(runtime, holder, record_id, BloodGroup(A_POS, observed_on=date(2001, 4, 2)))
    add(runtime, holder, record_id, Allergy(PENICILLIN, criticality="high"))
    add(runtime, holder, record_id, Treatment("B01AA03", dosage="5 mg le soir"))
    add(runtime, holder, record_id, PersonToNotify("Paul MARTIN", "SPS", phone="0600000001"))
    add(runtime, holder, record_id, Note("Porteuse d'un pacemaker"))
    run(
        runtime,
        directives.write_directives,
        holder,
        record_id,
        directives.parse_answers(ANSWERS),
        vault=runtime.vault,
        max_size=runtime.settings.max_document_bytes,
    )
    with pytest.raises(HiddenFromActor):
        run(runtime, content.emergency_summary, EMERGENCY_DOCTOR, record_id, keys=runtime.vault.keys)
    run(runtime, consents.break_glass, EMERGENCY_DOCTOR, record_id, reason="inconsciente aux urgences")
    summary = run(runtime, content.emergency_summary, EMERGENCY_DOCTOR, record_id, keys=runtime.vault.keys)
    assert summary.blood_group is not None and summary.blood_group.data.code == A_POS
    assert [a.data.substance_code for a in summary.allergies] == [PENICILLIN]
    assert [t.data.medication_code for t in summary.treatments] == ["B01AA03"]
    assert [p.data.name for p in summary.people_to_notify] == ["Paul MARTIN"]
    assert summary.advance_directives is not None and summary.advance_directives.from_questionnaire
    assert summary.trusted_person is not None and summary.trusted_person.name == "Jeanne MARTIN"
    entries = journal(runtime, record_id)
    assert ("content:emergency-summary", "success", EMERGENCY_DOCTOR.id) in entries
    assert ("content:emergency-summary", "denied", EMERGENCY_DOCTOR.id) in entries


def test_emergency_access_records_no_vaccination(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    _, record_id = record
    run(runtime, consents.break_glass, EMERGENCY_DOCTOR, record_id, reason="inconsciente")
    with pytest.raises(AccessDenied):
        add(runtime, EMERGENCY_DOCTOR, record_id, Vaccination(HEXAVALENT, date(2026, 5, 1)))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (BloodGroup("999999"), "Observation.valueCodeableConcept"),
        (BloodGroup(A_POS, observed_on=date(2026, 6, 2)), "Observation.effectiveDateTime"),
        (Allergy("123"), "AllergyIntolerance.code"),
        (Allergy(text="x", onset=date(2027, 1, 1)), "AllergyIntolerance.onsetDateTime"),
        (Allergy(text="x", onset=date(1970, 1, 1)), "AllergyIntolerance.onsetDateTime"),
        (Treatment("ZZZ"), "MedicationStatement.medicationCodeableConcept"),
        (PersonToNotify("Paul", "XYZ", phone="0600000001"), "RelatedPerson.relationship"),
        (PersonToNotify("Paul", "SPS"), "RelatedPerson.telecom"),
        (Note("  "), "note.text"),
    ],
)
def test_unknown_codes_and_future_dates_are_refused_naming_the_field_and_nothing_is_written(
    runtime: Runtime, record: tuple[Ins, uuid.UUID], data: Any, field: str
) -> None:
    ins, record_id = record
    with pytest.raises(InvalidInput) as refused:
        add(runtime, Actor.patient(ins), record_id, data)
    assert refused.value.field == field
    assert count_items(runtime, record_id) == 0


def test_a_record_has_one_blood_group_changed_in_place(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    holder = Actor.patient(ins)
    first = add(runtime, holder, record_id, BloodGroup(A_POS))
    with pytest.raises(ContentConflict):
        add(runtime, holder, record_id, BloodGroup("278147001"))
    changed = run(
        runtime, content.update_content, holder, first.id, BloodGroup("278147001"), keys=runtime.vault.keys, if_match=1
    )
    assert changed.version == 2 and changed.data.code == "278147001"
    with pytest.raises(StaleVersion):
        run(runtime, content.update_content, holder, first.id, BloodGroup(A_POS), keys=runtime.vault.keys, if_match=1)
    run(runtime, content.delete_content, holder, first.id)
    assert (
        run(runtime, content.list_content, holder, record_id, [ContentKind.BLOOD_GROUP], keys=runtime.vault.keys) == []
    )


def test_a_professional_records_a_vaccination_a_patient_declares_one(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    given = add(
        runtime, DOCTOR, record_id, Vaccination("J07BB02", date(2025, 10, 15), lot_number="AB123", primary_source=False)
    )
    assert given.data.primary_source and given.data.performer_rpps == DOCTOR.id
    declared = add(
        runtime, Actor.patient(ins), record_id, Vaccination("J07BD52", date(1981, 6, 1), primary_source=True)
    )
    assert not declared.data.primary_source and declared.data.report_origin == "recall"
    with pytest.raises(AccessDenied):
        add(runtime, PHYSIO, record_id, Vaccination("J07BB02", date(2025, 10, 15)))
    with pytest.raises(AccessDenied):  # each changes only what they recorded
        run(runtime, content.delete_content, Actor.patient(ins), given.id)
    report = run(runtime, content.vaccination_record, DOCTOR, record_id, keys=runtime.vault.keys)
    assert {i.id for i in report.vaccinations} == {given.id, declared.id}
    assert any(d.line.group == "dtp" for d in report.schedule.due)  # the 45-year booster


def test_an_unknown_vaccine_or_a_dose_in_the_future_is_refused(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    _, record_id = record
    with pytest.raises(InvalidInput) as unknown:
        add(runtime, DOCTOR, record_id, Vaccination("J07XX99", date(2026, 1, 1)))
    assert unknown.value.field == "Immunization.vaccineCode"
    with pytest.raises(InvalidInput) as future:
        add(runtime, DOCTOR, record_id, Vaccination(HEXAVALENT, runtime.clock.now().date() + timedelta(days=1)))
    assert future.value.field == "Immunization.occurrenceDateTime"
    assert count_items(runtime, record_id) == 0


def test_missing_questionnaire_answers_are_each_named_and_nothing_is_written(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    partial = {k: v for k, v in ANSWERS.items() if k not in ("resuscitation", "sedation", "trusted_person_name")}
    with pytest.raises(MissingAnswers) as missing:
        directives.parse_answers(partial)
    assert missing.value.fields == ("resuscitation", "sedation", "trusted_person")
    assert directives.parse_answers({**partial, "resuscitation": "non", "sedation": "oui", "no_trusted_person": "true"})


def test_only_the_holder_writes_advance_directives_and_a_new_version_replaces_the_old(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    answers = directives.parse_answers(ANSWERS)
    for someone in (DOCTOR, Actor.patient(f.person(born=date(1950, 1, 1))[0])):
        with pytest.raises((AccessDenied, HiddenFromActor)):
            run(runtime, directives.write_directives, someone, record_id, answers, vault=runtime.vault, max_size=10**7)
    with unit_of_work(runtime.sessions) as session:
        assert session.execute(select(func.count()).where(Document.record_id == record_id)).scalar_one() == 0
    holder = Actor.patient(ins)
    first = run(runtime, directives.write_directives, holder, record_id, answers, vault=runtime.vault, max_size=10**7)
    second = run(
        runtime,
        directives.write_directives,
        holder,
        record_id,
        directives.parse_answers({**ANSWERS, "resuscitation": "Réanimation souhaitée"}),
        vault=runtime.vault,
        max_size=10**7,
    )
    assert second.replaced == first.stored.document.id
    assert second.stored.document.logical_id == first.stored.document.logical_id
    assert second.stored.document.version == 2
    with unit_of_work(runtime.sessions) as session:
        old = session.get(Document, first.stored.document.id)
        assert old is not None and old.status == "superseded"
    _, stream = run(runtime, documents.read_content, holder, second.stored.document.id, vault=runtime.vault)
    assert b"".join(stream).startswith(b"%PDF")
    latest = run(runtime, directives.latest_answers, holder, record_id, vault=runtime.vault)
    assert latest is not None and latest.resuscitation == "Réanimation souhaitée"


def test_a_representative_cannot_write_a_minors_advance_directives(runtime: Runtime) -> None:
    ins, traits = f.minor(runtime.clock.now().date())
    parent = records.RepresentativeIn(f.person(born=date(1980, 1, 1))[0], "MARTIN", "JEAN")
    record_id = f.open_record(runtime, Actor.counter_agent("a"), ins, traits, representatives=(parent,)).record.id
    with pytest.raises(AccessDenied):
        run(
            runtime,
            directives.write_directives,
            Actor.patient(parent.ins),
            record_id,
            directives.parse_answers(ANSWERS),
            vault=runtime.vault,
            max_size=10**7,
        )
    assert ("document:create", "denied", parent.ins.value) in journal(runtime, record_id)


def test_purging_the_record_deletes_its_content(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    add(runtime, Actor.patient(ins), record_id, BloodGroup(A_POS))
    run(runtime, records.request_deletion, Actor.patient(ins), record_id)
    run(runtime, records.purge_record, f.OPERATOR, record_id)
    assert count_items(runtime, record_id) == 0


def test_a_blocked_professional_reads_no_content_even_authorised(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    add(runtime, Actor.patient(ins), record_id, Allergy(text="Latex"))
    run(runtime, consents.block, Actor.patient(ins), record_id, DOCTOR.id)
    with pytest.raises(HiddenFromActor):
        run(runtime, content.emergency_summary, DOCTOR, record_id, keys=runtime.vault.keys)
    with pytest.raises(HiddenFromActor):
        run(runtime, content.list_content, DOCTOR, record_id, [ContentKind.ALLERGY], keys=runtime.vault.keys)
    assert ("content:emergency-summary", "denied", DOCTOR.id) in journal(runtime, record_id)


def test_a_merge_moves_the_content_under_the_survivors_key_and_keeps_one_blood_group(runtime: Runtime) -> None:
    ins_a, traits = f.person(order=61)
    ins_b, _ = f.person(order=62)
    duplicate = f.open_record(runtime, Actor.counter_agent("agent"), ins_a, traits).record.id
    survivor = f.open_record(runtime, Actor.counter_agent("agent"), ins_b, traits).record.id
    add(runtime, Actor.patient(ins_a), duplicate, BloodGroup(A_POS))
    add(runtime, Actor.patient(ins_a), duplicate, Allergy(text="Fraises", category="intolerance"))
    add(runtime, Actor.patient(ins_b), survivor, BloodGroup(A_POS))
    with unit_of_work(runtime.sessions) as session:
        records.merge_records(session, f.OPERATOR, survivor, duplicate, runtime.clock.now(), runtime.vault)
    runtime.vault.keys.destroy(duplicate, "test", runtime.clock.now())  # the duplicate's key no longer matters
    items = run(
        runtime, content.list_content, Actor.patient(ins_b), survivor, list(ContentKind), keys=runtime.vault.keys
    )
    assert sorted(i.kind.value for i in items) == ["allergy", "blood-group"]
    with runtime.sessions() as session:
        statuses = sorted(
            session.scalars(
                select(ContentRow.status).where(
                    ContentRow.record_id == survivor, ContentRow.kind == ContentKind.BLOOD_GROUP.value
                )
            )
        )
    assert statuses == ["active", "superseded"]
