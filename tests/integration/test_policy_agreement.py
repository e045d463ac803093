"""`decide` and `readable_by` are one policy: for any actor and any state of the holder's consents,
the documents the SQL filter returns are exactly those `decide` allows one by one, on both
databases, so lists, pages and totals never show what a direct read would refuse (and never
hide what it would allow)."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from opendmp.access.policy import (
    RELEASE_INVISIBLE_AFTER,
    Action,
    DocumentFacts,
    Emergency,
    EmergencyMode,
    Grant,
    RecordFacts,
    Switches,
    decide,
    readable_by,
)
from opendmp.access.rules import CLASS_CODES, HabilitationMatrix, default_matrix
from opendmp.document.models import Document, DocumentAuthor
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from tests import factories as f
from tests.conftest import NOW

RPPS = [f"1000000{n:04d}" for n in range(6)]
PROFESSIONS = ["10", "21", "60", "40", "93", "36"]
PARENT = Ins(InsSystem.TEST_NIR, "170057505612345")
CAREGIVER = Ins(InsSystem.TEST_NIR, "190057505612345")  # a stranger unless the holder delegated
SOFTWARE_ID = "lps-chu"


def _documents(runtime: Runtime, record_id: uuid.UUID, holder: Ins) -> None:
    """40 documents covering classes, flags, authors, submitters and ages (seeded: reproducible)."""
    rng = random.Random(4)
    submitters = [*RPPS, SOFTWARE_ID, holder.value, "cnam-batch"]
    with unit_of_work(runtime.sessions) as session:
        for n in range(40):
            document_id = uuid.uuid4()
            session.add(
                Document(
                    id=document_id,
                    record_id=record_id,
                    logical_id=document_id,
                    version=1,
                    meta_version=1,
                    unique_id=f"2.25.{document_id.int}",
                    status="current",
                    archived=False,
                    type_code="11488-4",
                    type_system="2.16.840.1.113883.6.1",
                    class_code=rng.choice(CLASS_CODES),
                    mime_type="application/pdf",
                    size=1,
                    sha256="0" * 64,
                    sha1="0" * 40,
                    masked_from_professionals=rng.random() < 0.3,
                    invisible_to_patient=n == 0 or rng.random() < 0.3,
                    invisible_to_representatives=rng.random() < 0.3,
                    # The first one sits exactly on the release boundary of INVISIBLE_PATIENT.
                    submitted_at=NOW if n == 0 else NOW - timedelta(days=rng.randint(0, 60), minutes=n),
                    submitted_by_kind="professional",
                    submitted_by=rng.choice(submitters),
                    blob_key=f"x/{n}",
                    updated_at=NOW,
                )
            )
            for rpps in rng.sample(RPPS, rng.randint(0, 2)):
                session.add(
                    DocumentAuthor(record_id=record_id, document_id=document_id, kind="professional", rpps=rpps)
                )


def _actors(holder: Ins) -> st.SearchStrategy[Actor]:
    professionals = st.builds(
        lambda rpps, profession, samu: Actor.professional(rpps, profession, samu_regulator=samu),
        st.sampled_from(RPPS),
        st.sampled_from(PROFESSIONS),
        st.booleans(),
    )
    software = st.builds(
        lambda rpps, profession, scopes: dataclasses.replace(
            Actor.software(SOFTWARE_ID, "750000001", rpps, profession), scopes=scopes
        ),
        st.sampled_from(RPPS),
        st.sampled_from(PROFESSIONS),
        st.one_of(st.none(), st.frozensets(st.sampled_from(["dmp:creation", "dmp:alimentation", "dmp:consultation"]))),
    )
    people = st.sampled_from([Actor.patient(holder), Actor.patient(PARENT), Actor.patient(CAREGIVER)])
    others = st.sampled_from([Actor.insurer_feed(), Actor.counter_agent("agent"), Actor.operator("ops")])
    return st.one_of(professionals, software, people, others)


def _matrices() -> st.SearchStrategy[HabilitationMatrix]:
    pairs = st.frozensets(st.tuples(st.sampled_from(PROFESSIONS), st.sampled_from(CLASS_CODES)), max_size=30)
    return st.one_of(st.just(default_matrix()), st.builds(lambda allowed: HabilitationMatrix(9, allowed), pairs))


def _facts(record_id: uuid.UUID, holder: Ins) -> st.SearchStrategy[RecordFacts]:
    offsets = st.integers(-3, 3).map(lambda days: NOW + timedelta(days=days, hours=1))
    grants = st.dictionaries(
        st.sampled_from(RPPS), st.builds(Grant, st.one_of(st.none(), offsets), st.booleans()), max_size=4
    )
    emergencies = st.dictionaries(
        st.sampled_from(RPPS), st.builds(Emergency, st.sampled_from(list(EmergencyMode)), offsets), max_size=2
    )
    return st.builds(
        lambda grants, blocked, mt, switches, emergencies, matrix, reps, status, delegated: RecordFacts(
            record_id,
            status,
            holder,
            representatives=frozenset({PARENT}) if reps else frozenset(),
            grants=grants,
            blocked=blocked,
            medecin_traitant=mt,
            switches=switches,
            emergencies=emergencies,
            matrix=matrix,
            delegates=frozenset({CAREGIVER}) if delegated else frozenset(),
        ),
        grants,
        st.frozensets(st.sampled_from(RPPS), max_size=2),
        st.one_of(st.none(), st.sampled_from(RPPS)),
        st.builds(Switches, st.booleans(), st.booleans(), st.booleans()),
        emergencies,
        _matrices(),
        st.booleans(),
        st.sampled_from(["active", "active", "pending-objection", "closed", "suspended"]),
        st.booleans(),
    )


def test_decide_allows_exactly_the_rows_readable_by_returns(runtime: Runtime) -> None:
    holder, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent"), holder, traits).record.id
    _documents(runtime, record_id, holder)
    session = runtime.sessions()
    documents = list(session.execute(select(Document).where(Document.record_id == record_id)).scalars())
    authors: dict[uuid.UUID, set[str]] = {}
    for author in session.execute(select(DocumentAuthor)).scalars():
        authors.setdefault(author.document_id, set()).add(author.rpps or "")
    checked: list[int] = []

    @given(
        actor=_actors(holder),
        facts=_facts(record_id, holder),
        # Around the one-month release of INVISIBLE_PATIENT documents, and around the windows.
        shift=st.sampled_from([timedelta(0), RELEASE_INVISIBLE_AFTER, timedelta(days=2, hours=1)]),
    )
    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def agree(actor: Actor, facts: RecordFacts, shift: timedelta) -> None:
        now = NOW + shift
        by_decide = {
            d.id for d in documents if decide(actor, Action.DOCUMENT_READ, _facts_of(d, facts, authors), now).allowed
        }
        by_sql = set(
            session.execute(
                select(Document.id).where(Document.record_id == record_id, readable_by(actor, facts, now))
            ).scalars()
        )
        assert by_sql == by_decide, (actor, facts, now)
        checked.append(len(by_sql))

    try:
        agree()
    finally:
        session.close()
    assert any(checked) and not all(checked), "the examples must cover both readable and hidden documents"


def _facts_of(document: Document, record: RecordFacts, authors: dict[uuid.UUID, set[str]]) -> DocumentFacts:
    values: dict[str, Any] = {
        "document_id": document.id,
        "record": record,
        "type_code": document.type_code,
        "authors": frozenset(authors.get(document.id, set())),
        "submitted_by": document.submitted_by,
        "class_code": document.class_code,
        "submitted_at": document.submitted_at,
        "masked_from_professionals": document.masked_from_professionals,
        "invisible_to_patient": document.invisible_to_patient,
        "invisible_to_representatives": document.invisible_to_representatives,
    }
    return DocumentFacts(**values)
