"""Factories with overrides: valid people, professionals and organisations for the tests."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.config import OpeningPolicy
from opendmp.identity import service as identity
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Gender, Ins, InsSystem, StrictTraits, nir_key
from opendmp.kit.db import unit_of_work
from opendmp.record import service as records
from opendmp.runtime import Runtime

_order = itertools.count(1)
OPERATOR = Actor.operator("test-operator")


def make_nir(
    gender: Gender = Gender.FEMALE, born: date = date(1980, 5, 17), birthplace: str = "75056", order: int | None = None
) -> str:
    number = order if order is not None else next(_order) % 1000 or 1
    nir13 = f"{1 if gender is Gender.MALE else 2}{born.year % 100:02d}{born.month:02d}{birthplace}{number:03d}"
    return f"{nir13}{nir_key(nir13):02d}"


def person(
    *,
    family: str = "MARTIN",
    given: str = "CLAIRE ANNE",
    born: date = date(1980, 5, 17),
    gender: Gender = Gender.FEMALE,
    birthplace: str = "75056",
    system: InsSystem = InsSystem.TEST_NIR,
    order: int | None = None,
) -> tuple[Ins, StrictTraits]:
    ins = Ins(system, make_nir(gender, born, birthplace, order))
    return ins, StrictTraits(family, given, born, gender, birthplace)


def minor(on: date, **kw: Any) -> tuple[Ins, StrictTraits]:
    born = on - timedelta(days=10 * 365)
    return person(born=born, **kw)


def opening(ins: Ins, traits: StrictTraits, now: datetime, **kw: Any) -> records.OpeningRequest:
    kw.setdefault("consent_at", now - timedelta(minutes=5))
    kw.setdefault("residence_department", "75")
    return records.OpeningRequest(ins=ins, traits=traits, **kw)


def add_organisation(
    runtime: Runtime,
    finess: str = "750000001",
    kind: str = "pharmacy",
    department: str = "75",
    name: str = "Pharmacie du Marché",
) -> str:
    with unit_of_work(runtime.sessions) as session:
        identity.add_organisation(
            session, OPERATOR, identity.OrganisationIn(finess, name, kind, department), runtime.clock.now()
        )
    return finess


def add_professional(
    runtime: Runtime,
    rpps: str = "10000000001",
    profession: str = "10",
    *,
    finess: str | None = None,
    family: str = "DURAND",
    given: str = "Paul",
) -> Actor:
    with unit_of_work(runtime.sessions) as session:
        identity.add_professional(
            session,
            OPERATOR,
            identity.ProfessionalIn(rpps=rpps, profession=profession, family=family, given=given, finess=finess),
            runtime.clock.now(),
        )
    return Actor.professional(rpps, profession, finess)


def open_record(
    runtime: Runtime,
    actor: Actor,
    ins: Ins,
    traits: StrictTraits,
    *,
    policy: OpeningPolicy = OpeningPolicy.OPT_OUT,
    **kw: Any,
) -> records.PatientRecord:
    with unit_of_work(runtime.sessions) as session:
        return records.open_record(
            session, actor, opening(ins, traits, runtime.clock.now(), **kw), runtime.clock.now(), policy=policy
        )


def authorise(runtime: Runtime, record_id: uuid.UUID, *actors: Actor, **kw: Any) -> None:
    """Each professional declares the patient's express consent, the patient present (added to
    the directory first when unknown): the way any professional gains access."""
    from opendmp.consent import service as consents
    from opendmp.identity.models import Professional

    for actor in actors:
        rpps, profession = actor.rpps, actor.profession or "10"
        assert rpps is not None
        with unit_of_work(runtime.sessions) as session:
            known = session.execute(select(Professional).where(Professional.rpps == rpps)).scalar_one_or_none()
        if known is None:
            add_professional(runtime, rpps, profession)
        declarer = Actor.professional(rpps, profession)
        with unit_of_work(runtime.sessions) as session:
            consents.authorise(
                session, declarer, record_id, rpps, runtime.clock.now(), **{"patient_present": True, **kw}
            )


def in_session(runtime: Runtime) -> Session:
    return runtime.sessions()
