"""Deterministic synthetic data (`opendmp seed --patients N --seed S`).

Identities are on the demo INS OID with valid NIR keys; names from Faker fr_FR; births spread
like the French age pyramid and departments weighted by population; organisations and
professionals in realistic proportions; records opened over weeks with the 2018–2019 channel
mix of the seed documents. Records are written through the same pure `plan_opening` that
`open_record` uses, then inserted in batches: same rows, journal and ledger, far fewer round trips.
"""

from __future__ import annotations

import gc
import random
import uuid
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import TypeVar

from faker import Faker
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from opendmp.identity import geography
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Gender, Ins, InsSystem, StrictTraits, nir_key
from opendmp.identity.models import Organisation, Professional, ProfessionalActivity
from opendmp.journal import service as journal
from opendmp.kit.db import unit_of_work
from opendmp.record.models import Channel, Record
from opendmp.record.service import OpeningPlan, OpeningRequest, RepresentativeIn, plan_opening, write_plans
from opendmp.runtime import Runtime
from opendmp.stats import counters, ledger

# Channel shares of the 2018–2019 relaunch (DOMAIN.md): pharmacies 31–42 %, patients online
# 19–39 %, insurer agents 18–32 %, professionals 4–18 %; nurses and establishments are small.
CHANNEL_MIX: tuple[tuple[Channel, float], ...] = (
    (Channel.PHARMACY, 0.36),
    (Channel.PATIENT_ONLINE, 0.27),
    (Channel.INSURER_COUNTER, 0.22),
    (Channel.HEALTH_PROFESSIONAL, 0.08),
    (Channel.ESTABLISHMENT, 0.04),
    (Channel.NURSE, 0.03),
)
DEFAULT_START = date(2026, 1, 5)
DEFAULT_WEEKS = 40
BORN_ABROAD_SHARE = 0.12
SAME_DEPARTMENT_SHARE = 0.7
MINOR_DAYS = 18 * 365
# SQLite page cache of the seeding connection. Every index is keyed by a random UUID or digest,
# so from ~100,000 records on each insert lands on a page the default 2 MB cache no longer
# holds: 64 MB halves the page reads (system time), for ~75 MB more resident memory.
SQLITE_SEED_CACHE_KIB = 64 * 1024

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SeedReport:
    records: int
    professionals: int
    organisations: int


@dataclass(frozen=True, slots=True)
class Directory:
    pharmacists: list[Actor]
    nurses: list[Actor]
    doctors: list[Actor]
    software: list[Actor]
    agents: list[Actor]


def has_data(runtime: Runtime) -> bool:
    with runtime.sessions() as session:
        return session.execute(select(func.count()).select_from(Record)).scalar_one() > 0


def _cumulative(weights: list[float]) -> list[float]:
    return list(accumulate(weights))


@contextmanager
def _few_collections() -> Iterator[None]:
    """The seeder allocates millions of short-lived containers and no reference cycles: the cyclic
    collector, left at its defaults, would spend a quarter of the time walking live batches."""
    threshold = gc.get_threshold()
    gc.freeze()  # what exists already (modules, Faker's tables) is never garbage
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _weighted(rng: random.Random, population: Sequence[T], cum_weights: list[float]) -> Callable[[], T]:
    """`rng.choices(population, cum_weights=cum_weights)[0]` drawing the same number, minus the
    list and the argument checks (the seeder calls it millions of times)."""
    draw, total, hi = rng.random, cum_weights[-1] + 0.0, len(population) - 1
    return lambda: population[bisect(cum_weights, draw() * total, 0, hi)]


def _randbelow(rng: random.Random) -> Callable[[int], int]:
    """What `rng.randrange(n)` and `rng.choice` draw with (same numbers), without their checks."""
    randbelow: Callable[[int], int] = rng._randbelow  # type: ignore[attr-defined]
    return randbelow


class PersonFactory:
    """People with consistent INS traits: the NIR encodes sex, birth year and month, birthplace."""

    def __init__(self, rng: random.Random, faker: Faker) -> None:
        self.rng = rng
        self.families = sorted({faker.last_name().upper() for _ in range(4000)})
        self.male = sorted({faker.first_name_male().upper() for _ in range(1500)})
        self.female = sorted({faker.first_name_female().upper() for _ in range(1500)})
        self.departments = list(geography.DEPARTMENTS.values())
        self.dep_weights = _cumulative([float(d.population) for d in self.departments])
        self.countries = sorted(geography.FOREIGN_COUNTRIES)
        ages = list(range(100))
        # Flat until 65, then thinning out: close enough to the French pyramid for weights.
        self.ages = ages
        self.age_weights = _cumulative([1.0 if a < 65 else max(0.05, 1 - (a - 65) / 35) for a in ages])
        self.used: set[str] = set()
        self._department = _weighted(rng, self.departments, self.dep_weights)
        self._age = _weighted(rng, self.ages, self.age_weights)
        self._randbelow = _randbelow(rng)

    def department(self) -> geography.Department:
        return self._department()

    def person(self, on: date, *, min_age: int = 0) -> tuple[Ins, StrictTraits, str]:
        # The draws are those of rng.random/choices/randrange/choice, in the same order: same people.
        rng, randbelow, department = self.rng, self._randbelow, self._department
        male = rng.random() < 0.49
        while True:
            age = self._age()
            if age >= min_age:
                break
        born = on - timedelta(days=age * 365 + randbelow(365))
        residence = department()
        if rng.random() < BORN_ABROAD_SHARE:
            birthplace = self.countries[randbelow(len(self.countries))]
        else:
            birthplace = (residence if rng.random() < SAME_DEPARTMENT_SHARE else department()).chef_lieu
        prefix = f"{1 if male else 2}{born.year % 100:02d}{born.month:02d}{birthplace}"
        used = self.used
        while True:
            nir13 = f"{prefix}{1 + randbelow(999):03d}"
            if nir13 not in used:
                used.add(nir13)
                break
        names = self.male if male else self.female
        given = " ".join(rng.sample(names, (1, 1, 2, 2, 3)[randbelow(5)]))
        family = self.families[randbelow(len(self.families))]
        traits = StrictTraits(family, given, born, Gender.MALE if male else Gender.FEMALE, birthplace)
        return Ins(InsSystem.DEMO_NIR, f"{nir13}{nir_key(nir13):02d}"), traits, residence.code


def _seed_directory(runtime: Runtime, rng: random.Random, faker: Faker, patients: int) -> tuple[Directory, int, int]:
    """Organisations and professionals, scaled on the number of records (13,000 pharmacies and
    ~100 insurer offices nationally; ~1 GP per 1,000 inhabitants)."""
    departments = list(geography.DEPARTMENTS.values())
    weights = _cumulative([float(d.population) for d in departments])
    counts = {
        "pharmacy": min(13000, max(5, patients // 150)),
        "insurer-office": min(101, max(2, patients // 10000)),
        "university-hospital": min(32, max(1, patients // 50000)),
        "hospital": min(1000, max(2, patients // 5000)),
        "clinic": min(1000, max(1, patients // 8000)),
        "ehpad": min(7000, max(1, patients // 3000)),
        "health-centre": min(2000, max(1, patients // 10000)),
        "laboratory": min(4000, max(1, patients // 10000)),
    }
    finess_numbers = iter(rng.sample(range(10_000, 9_999_999), sum(counts.values())))
    orgs: list[dict[str, object]] = []
    for kind, count in counts.items():
        for _ in range(count):
            dep = rng.choices(departments, cum_weights=weights)[0]
            label = {
                "pharmacy": "Pharmacie",
                "insurer-office": "CPAM",
                "university-hospital": "CHU",
                "hospital": "Centre hospitalier",
                "clinic": "Clinique",
                "ehpad": "EHPAD",
                "health-centre": "Centre de santé",
                "laboratory": "Laboratoire",
            }[kind]
            orgs.append(
                {
                    "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                    "finess": f"{dep.code[:2]}{next(finess_numbers):07d}",
                    "name": f"{label} {faker.city()}",
                    "kind": kind,
                    "department": dep.code,
                    "region": dep.region,
                }
            )
    by_kind: dict[str, list[dict[str, object]]] = {}
    for row in orgs:
        by_kind.setdefault(str(row["kind"]), []).append(row)
    people = {
        "21": max(5, int(counts["pharmacy"] * 1.5)),
        "10": max(5, patients // 400),
        "60": max(3, patients // 600),
        "50": max(1, patients // 5000),
        "40": max(1, patients // 4000),
        "70": max(1, patients // 3000),
    }
    rpps_numbers = iter(rng.sample(range(100_000_000, 999_999_999), sum(people.values())))
    professionals: list[dict[str, object]] = []
    activities: list[dict[str, object]] = []
    actors: dict[str, list[Actor]] = {"21": [], "60": [], "10": []}
    workplaces = {
        "21": "pharmacy",
        "10": "hospital",
        "60": "ehpad",
        "50": "hospital",
        "40": "health-centre",
        "70": "health-centre",
    }
    for profession, count in people.items():
        for index in range(count):
            rpps = f"10{next(rpps_numbers):09d}"
            family, given = faker.last_name().upper(), faker.first_name()
            pid = uuid.UUID(int=rng.getrandbits(128), version=4)
            professionals.append(
                {"id": pid, "rpps": rpps, "profession": profession, "specialty": None, "family": family, "given": given}
            )
            kind = workplaces[profession]
            # Half the doctors are liberal GPs without an establishment in the directory.
            org: dict[str, object] | None = None if profession == "10" and index % 2 else rng.choice(by_kind[kind])
            if org is not None:
                activities.append(
                    {
                        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                        "professional_id": pid,
                        "organisation_id": org["id"],
                    }
                )
            if profession in actors:
                actors[profession].append(Actor.professional(rpps, profession, str(org["finess"]) if org else None))
    hospitals = by_kind["hospital"] + by_kind["university-hospital"]
    software = [
        Actor.software(f"lps-{h['finess']}", str(h["finess"]), doctor.id, "10")
        for h, doctor in zip(hospitals, [d for d in actors["10"] if d.organisation], strict=False)
    ]
    software = software or [Actor.software("lps-demo", str(hospitals[0]["finess"]), actors["10"][0].id, "10")]
    agents = [
        Actor.counter_agent(f"agent-{office['finess']}-{n}", str(office["finess"]))
        for office in by_kind["insurer-office"]
        for n in range(3)
    ]
    with unit_of_work(runtime.sessions) as session:
        session.execute(insert(Organisation), orgs)
        session.execute(insert(Professional), professionals)
        session.execute(insert(ProfessionalActivity), activities)
        journal.append(
            session,
            Actor.system("seed"),
            journal.Event(
                "directory:seed",
                "directory",
                None,
                reason=f"organisations={len(orgs)};professionals={len(professionals)}",
            ),
            record_id=None,
            at=runtime.clock.now(),
        )
    return (Directory(actors["21"], actors["60"], actors["10"], software, agents), len(professionals), len(orgs))


def _opening_times(rng: random.Random, count: int, start: date, weeks: int) -> Iterator[datetime]:
    """Openings ramp up week after week, during opening hours."""
    week_of = _weighted(rng, range(weeks), _cumulative([1.0 + w / max(1, weeks - 1) for w in range(weeks)]))
    randbelow = _randbelow(rng)
    origin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    for _ in range(count):
        week = week_of()
        # Same draws, same order as timedelta(weeks=, days=, hours=8 + …, minutes=, seconds=, microseconds=).
        days, hours, minutes = randbelow(6), 8 + randbelow(11), randbelow(60)
        seconds, micro = randbelow(60), randbelow(1_000_000)
        yield origin + timedelta(week * 7 + days, hours * 3600 + minutes * 60 + seconds, micro)


def _opener(rng: random.Random, directory: Directory, channel: Channel, ins: Ins) -> Actor:
    match channel:
        case Channel.PHARMACY:
            return rng.choice(directory.pharmacists)
        case Channel.NURSE:
            return rng.choice(directory.nurses)
        case Channel.HEALTH_PROFESSIONAL:
            return rng.choice(directory.doctors)
        case Channel.ESTABLISHMENT:
            return rng.choice(directory.software)
        case Channel.INSURER_COUNTER:
            return rng.choice(directory.agents)
        case _:
            return Actor.patient(ins)


def seed_platform(
    runtime: Runtime,
    *,
    patients: int,
    seed: int,
    batch: int = 5000,
    start: date = DEFAULT_START,
    weeks: int = DEFAULT_WEEKS,
    on_progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Open `patients` records, `batch` per transaction. While one batch is written (by a single
    writer thread, so in order), the next is generated: the database's work (SQLite releases the
    GIL, PostgreSQL is another process) overlaps Python's on a second core."""
    rng = random.Random(seed)
    faker = Faker("fr_FR")
    faker.seed_instance(seed)
    directory, n_professionals, n_orgs = _seed_directory(runtime, rng, faker, patients)
    people = PersonFactory(rng, faker)
    with runtime.sessions() as session:
        rules = ledger.load_rules(session)
        kinds = counters.organisation_kinds(session)
    channel_of = _weighted(rng, [c for c, _ in CHANNEL_MIX], _cumulative([w for _, w in CHANNEL_MIX]))
    randbelow = _randbelow(rng)
    person = people.person
    policy = runtime.settings.opening_policy
    plans: list[OpeningPlan] = []
    done = 0
    with (
        _few_collections(),
        _writer_sessions(runtime) as sessions,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-writer") as writer,
    ):
        pending: Future[int] | None = None

        def flush() -> None:
            nonlocal done, pending, plans
            if pending is not None:
                done += pending.result()
                if on_progress:
                    on_progress(done)
            pending = writer.submit(_write, sessions, plans) if plans else None
            plans = []

        for opened_at in _opening_times(rng, patients, start, weeks):
            channel = channel_of()
            on = opened_at.date()
            ins, traits, residence = person(on)
            actor = _opener(rng, directory, channel, ins)
            representatives: tuple[RepresentativeIn, ...] = ()
            minor = (on - traits.birth_date).days < MINOR_DAYS
            if minor and channel is not Channel.PATIENT_ONLINE:
                parent_ins, parent, _ = person(on, min_age=25)
                representatives = (RepresentativeIn(parent_ins, parent.birth_family, parent.given_names),)
            elif minor:
                actor = rng.choice(directory.agents)  # minors are opened at a counter
                channel = Channel.INSURER_COUNTER
            request = OpeningRequest(
                ins=ins,
                traits=traits,
                channel=channel,
                consent_at=opened_at - timedelta(minutes=1 + randbelow(14)),
                consent_method="oral" if channel is not Channel.PATIENT_ONLINE else "online",
                residence_department=residence,
                representatives=representatives,
            )
            plans.append(
                plan_opening(
                    actor,
                    request,
                    opened_at,
                    policy=policy,
                    rules=rules,
                    pharmacy_known=actor.organisation is not None,
                    record_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    organisation_kind=kinds.get(actor.organisation) if actor.organisation else None,
                )
            )
            if len(plans) >= batch:
                flush()
        flush()  # the last batch
        flush()  # and wait for it
    return SeedReport(done, n_professionals, n_orgs)


@contextmanager
def _writer_sessions(runtime: Runtime) -> Iterator[sessionmaker[Session]]:
    """The sessions the writer thread commits with. On SQLite, one connection of the pool with a
    larger page cache for the time of the seed, put back as it was afterwards."""
    if runtime.engine.dialect.name != "sqlite":
        yield runtime.sessions
        return
    with runtime.engine.connect() as connection:
        driver = connection.connection.driver_connection
        if driver is None:
            raise RuntimeError("no database connection")
        previous = driver.execute("PRAGMA cache_size").fetchone()[0]
        driver.execute(f"PRAGMA cache_size = -{SQLITE_SEED_CACHE_KIB}")
        try:
            yield sessionmaker(bind=connection, expire_on_commit=False)
        finally:
            driver.execute(f"PRAGMA cache_size = {int(previous)}")


def _write(sessions: sessionmaker[Session], plans: list[OpeningPlan]) -> int:
    with unit_of_work(sessions) as session:
        write_plans(session, plans)
    return len(plans)
