"""Statistics benchmarks (issue 8): the dashboard's data endpoint over the aggregates of
1,000,000 records and 10,000,000 documents, and what maintaining the aggregates adds to a
record opening.

    .venv/bin/python bench/stats/stats_bench.py                     # SQLite, both parts
    .venv/bin/python bench/stats/stats_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/opendmp_bench_stats
    make bench-stats

(1) Aggregates. The counter rows are written by the real writers (`counters.add_openings`,
    `add_openers`, `add_documents`, `add_activations`, `add_filled`), fed with what the real
    paths hand them: openings planned like the bulk seeder's (its `_opening_times` over 40
    weeks, its channel mix, departments weighted by population, the opener's organisation kind
    by channel, 13,000 pharmacies and 20,000 nurses), summed per batch of 5,000 as `write_plans`
    does; documents as a feed's batches would count them (one batch per day: sources in the
    seed documents' shares, the insurer's reimbursement history, type codes of the national
    value set). Only the aggregates are written: the dashboard reads nothing else. Dataset
    generated with random.Random(--seed): deterministic.
(2) The data endpoint: GET /exploitation/tableau-de-bord/donnees.json over HTTP (Litestar's
    TestClient, in process) with an operator's session, --requests times after 20 warm-ups:
    p50/p95/p99 (goal p99 <= 50 ms), with the figures cached 10 s (the default,
    OPENDMP_STATS_CACHE_SECONDS) and with no cache (recomputed at each request). The
    service function alone (uncached) is timed too.
(3) The cost of the aggregates on an opening: --openings records opened through
    `record.service.open_record` (counter agent, one transaction each) on this store, the
    counter bump timed inside each opening (perf_counter around `_count_openings`), and the
    same openings with the bump replaced by a no-op for an end-to-end A/B (goal: <= 0.2 ms).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import machine, machine_line

from opendmp import migrate
from opendmp.auth.account_models import SessionStage
from opendmp.auth.sessions import start
from opendmp.config import Environment, OpeningPolicy, Settings
from opendmp.document.codes import document_types
from opendmp.identity import geography
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Gender, Ins, InsSystem, nir_key
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.record import service as records
from opendmp.record.models import Channel
from opendmp.runtime import build_runtime
from opendmp.seed import CHANNEL_MIX, DEFAULT_START, DEFAULT_WEEKS, _opening_times
from opendmp.stats import counters
from opendmp.stats.dashboard import dashboard_figures

KIND_BY_CHANNEL = {
    Channel.PHARMACY: ["pharmacy"],
    Channel.INSURER_COUNTER: ["insurer-office"],
    Channel.ESTABLISHMENT: ["hospital", "hospital", "university-hospital", "clinic", "ehpad"],
}
# Seeds' shares of documents added (April 2019), plus the insurer's reimbursement history.
SOURCE_MIX = [("establishment", 0.54), ("patient", 0.30), ("liberal", 0.14), ("health-centre", 0.02)]
INSURER_SHARE = 0.5  # half of all documents are REMB history lines fed at opening and after


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_aggregates(runtime: Any, rng: random.Random, records_n: int, documents_n: int) -> dict[str, int]:
    departments = list(geography.DEPARTMENTS.values())
    dept_weights = [d.population for d in departments]
    channels = [c for c, _ in CHANNEL_MIX]
    channel_weights = [w for _, w in CHANNEL_MIX]
    pharmacies = [f"{750000000 + n:09d}" for n in range(13_000)]
    nurses = [f"{60000000000 + n:011d}" for n in range(20_000)]
    times = _opening_times(rng, records_n, DEFAULT_START, DEFAULT_WEEKS)
    written = 0
    days: Counter[date] = Counter()
    while written < records_n:
        n = min(5000, records_n - written)
        keys: list[counters.OpeningKey] = []
        openers: list[counters.OpenerKey] = []
        chosen = rng.choices(channels, channel_weights, k=n)
        depts = rng.choices(departments, dept_weights, k=n)
        for channel, dept in zip(chosen, depts, strict=True):
            at = next(times)
            kinds = KIND_BY_CHANNEL.get(channel)
            keys.append(counters.opening_key(at, channel.value, dept.code, rng.choice(kinds) if kinds else None))
            if channel is Channel.PHARMACY:
                openers.append(counters.OpenerKey("pharmacy", rng.choice(pharmacies), at.date()))
            elif channel is Channel.NURSE:
                openers.append(counters.OpenerKey("nurse", rng.choice(nurses), at.date()))
            days[at.date()] += 1
        with unit_of_work(runtime.sessions) as session:
            counters.add_openings(session, keys, stripe=0)
            counters.add_openers(session, openers)
        written += n
    # Activations (about a third of holders) and first documents (85 % of records get one).
    activated: Counter[date] = Counter()
    filled: Counter[date] = Counter()
    for day, n in days.items():
        activated[min(day + timedelta(days=rng.randrange(1, 60)), date(2026, 11, 20))] += n // 3
        filled[day] += int(n * 0.85)
    with unit_of_work(runtime.sessions) as session:
        counters.add_activations(session, activated, stripe=0)
        counters.add_filled(session, filled, stripe=0)
    # Documents: one batch per day, in proportion to the openings of that day and before.
    types = [t for t in document_types().values() if t.code != "REMB"]
    remb = next(t for t in document_types().values() if t.code == "REMB")
    type_weights = [1.0 / (i + 1) for i in range(len(types))]  # a few types dominate, as in real life
    cumulative, total_weight = 0, 0.0
    weights: dict[date, float] = {}
    for day in sorted(days):
        cumulative += days[day]
        weights[day] = float(cumulative)
        total_weight += cumulative
    added = 0
    for day, weight in weights.items():
        n = round(documents_n * weight / total_weight)
        at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        batch: Counter[counters.DocumentKey] = Counter()
        insurer = int(n * INSURER_SHARE)
        batch[counters.DocumentKey(day, "insurer", remb.class_code, remb.code)] += insurer
        for source, share in SOURCE_MIX:
            m = int((n - insurer) * share)
            for t in rng.choices(types, type_weights, k=min(m, 400)):  # spread m over up to 400 draws
                batch[counters.DocumentKey(day, source, t.class_code, t.code)] += max(1, m // min(m, 400))
        with unit_of_work(runtime.sessions) as session:
            counters.add_documents(session, batch, stripe=0)
            for finess in rng.sample(range(500), 3):  # establishments whose software files
                kind = "university-hospital" if finess < 19 else "hospital"
                counters.note_feeder(session, f"{690000000 + finess:09d}", kind, at.date())
        added += sum(batch.values())
    return {"records": written, "documents": added}


def table_rows(runtime: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from opendmp.stats import models

    out = {}
    with runtime.sessions() as session:
        for model in (
            models.OpeningCount,
            models.OpeningWeekCount,
            models.OpeningRegionCount,
            models.DocumentCount,
            models.DocumentWeekCount,
            models.DocumentTypeCount,
            models.Opener,
            models.Feeder,
        ):
            out[model.__tablename__] = session.execute(select(func.count()).select_from(model)).scalar_one()
    return out


def time_endpoint(runtime: Any, requests: int, cache_seconds: float) -> dict[str, float]:
    from litestar.testing import TestClient

    from opendmp.app import create_app
    from opendmp.auth.hashing import AuthSecrets
    from opendmp.auth.sessions import SessionPolicy
    from opendmp.web.patient_pages import Edge

    secrets = AuthSecrets.from_master_key(runtime.keys.master_key)
    with unit_of_work(runtime.sessions) as session:
        token = start(
            session,
            Actor.operator("bench-operator"),
            SessionStage.AUTHENTICATED,
            runtime.clock.now(),
            SessionPolicy.from_settings(runtime.settings),
            secrets.random,
        )
    cookie = Edge(runtime).session_cookie
    runtime.settings = runtime.settings.model_copy(update={"stats_cache_seconds": cache_seconds})
    runtime._dashboard_cache = None  # a fresh cache with this lifetime
    timings: list[float] = []
    with TestClient(app=create_app(runtime=runtime), base_url="https://testserver.local") as client:
        client.cookies.set(cookie, token)
        for n in range(requests + 20):
            started = time.perf_counter()
            answer = client.get("/exploitation/tableau-de-bord/donnees.json")
            elapsed = time.perf_counter() - started
            if answer.status_code != 200:
                raise SystemExit(f"data endpoint answered {answer.status_code}: {answer.text[:200]}")
            if n >= 20:
                timings.append(elapsed * 1000)
    service: list[float] = []
    for _ in range(200):
        with unit_of_work(runtime.sessions) as session:
            started = time.perf_counter()
            dashboard_figures(
                session, Actor.operator("bench"), runtime.clock.now(), target=runtime.settings.stats_target
            )
            service.append((time.perf_counter() - started) * 1000)
    return {
        "p50": percentile(timings, 0.50),
        "p95": percentile(timings, 0.95),
        "p99": percentile(timings, 0.99),
        "max": max(timings),
        "service_p50": percentile(service, 0.50),
        "service_p99": percentile(service, 0.99),
    }


def time_openings(runtime: Any, n: int, rng: random.Random) -> dict[str, float]:
    from opendmp.identity.ins import StrictTraits

    bump: list[float] = []
    real = records._count_openings

    def timed(session: Any, plans: Any) -> None:
        started = time.perf_counter()
        real(session, plans)
        bump.append((time.perf_counter() - started) * 1000)

    agent = Actor.counter_agent("bench-agent")
    first = rng.randrange(0, 780_000)  # births 1940-2005: 840 months of 999 NIRs each
    order = iter(range(first, first + 60_000))

    def open_many(count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            k = next(order)
            month = k // 999  # the NIR carries year and month: a new month every 999 orders
            born = date(1940 + month // 12, month % 12 + 1, 15)  # born abroad (99100), order 1-999
            nir13 = f"2{born.year % 100:02d}{born.month:02d}99100{k % 999 + 1:03d}"
            ins = Ins(InsSystem.TEST_NIR, f"{nir13}{nir_key(nir13):02d}")
            traits = StrictTraits("BENCH", "ANNE", born, Gender.FEMALE, "99100")
            now = runtime.clock.now()
            request = records.OpeningRequest(
                ins=ins,
                traits=traits,
                consent_at=now - timedelta(minutes=5),
                residence_department=rng.choice(["75", "69", "13", "33", "35"]),
            )
            with unit_of_work(runtime.sessions) as session:
                records.open_record(session, agent, request, now, policy=OpeningPolicy.OPT_IN)
        return (time.perf_counter() - started) * 1000 / count

    records._count_openings = timed  # type: ignore[assignment]
    open_many(50)  # warm-up
    bump.clear()
    with_counters: list[float] = []
    without: list[float] = []
    rounds = 5
    for _ in range(rounds):  # interleaved, so drifts of the machine hit both alike
        records._count_openings = timed  # type: ignore[assignment]
        with_counters.append(open_many(n // rounds))
        records._count_openings = lambda session, plans: None  # type: ignore[assignment]
        without.append(open_many(n // rounds))
    records._count_openings = real  # type: ignore[assignment]
    return {
        "bump_mean": statistics.fmean(bump),
        "bump_p50": percentile(bump, 0.5),
        "bump_p99": percentile(bump, 0.99),
        "open_with": statistics.median(with_counters),
        "open_without": statistics.median(without),
    }


def time_bump_alone(runtime: Any, calls: int = 2000, rounds: int = 5) -> tuple[float, float]:
    """The counter upserts of one opening alone (`counters.add_openings` with one key: daily,
    weekly and region rows), `calls` per transaction: median and mean in ms."""
    at = runtime.clock.now()
    per: list[float] = []
    for _ in range(rounds):
        with unit_of_work(runtime.sessions) as session:
            session.connection()
            for i in range(calls):
                key = counters.opening_key(at, "pharmacy", ("75", "69", "13", "33")[i % 4], "pharmacy")
                started = time.perf_counter()
                counters.add_openings(session, [key])
                per.append((time.perf_counter() - started) * 1000)
            session.rollback()  # leave the aggregates as loaded
    return statistics.median(per), statistics.fmean(per)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--documents", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--openings", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    info = machine()
    print("machine:", machine_line(info))
    print("command:", " ".join(sys.argv))
    folder = Path(tempfile.mkdtemp(prefix="opendmp-stats-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'stats.sqlite3'}"
    migrate.upgrade(url)
    settings = Settings(env=Environment.TEST, dev_mode=True, data_dir=folder / "data", database_url=url)
    # The dashboard's "today": the Friday after the seeder's 40 weeks.
    clock = FrozenClock(datetime(2026, 10, 9, 15, tzinfo=UTC))
    runtime = build_runtime(settings, clock, pool_size=2)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    size = load_aggregates(runtime, rng, args.records, args.documents)
    print(
        f"dataset: aggregates of {size['records']:,} records and {size['documents']:,} documents "
        f"written in {time.perf_counter() - started:.1f} s; rows: {table_rows(runtime)}"
    )
    for cache_seconds in (10.0, 0.0):
        figures = time_endpoint(runtime, args.requests, cache_seconds)
        print(
            f"data endpoint over HTTP (figures cached {cache_seconds:g} s), {args.requests} requests: "
            f"p50 {figures['p50']:.2f} ms, p95 {figures['p95']:.2f} ms, p99 {figures['p99']:.2f} ms (goal <= 50), "
            f"max {figures['max']:.2f} ms; uncached service alone p50 {figures['service_p50']:.2f} ms, "
            f"p99 {figures['service_p99']:.2f} ms"
        )
    cost = time_openings(runtime, args.openings, rng)
    print(
        f"open_record, {args.openings} openings each way: counter bump inside the opening mean "
        f"{cost['bump_mean']:.3f} ms, p50 {cost['bump_p50']:.3f} ms, p99 {cost['bump_p99']:.3f} ms (goal <= 0.2); "
        f"whole opening {cost['open_with']:.2f} ms with, {cost['open_without']:.2f} ms without "
        f"(difference {cost['open_with'] - cost['open_without']:+.3f} ms, median of 5 interleaved rounds)"
    )
    median, mean = time_bump_alone(runtime)
    print(f"counter upserts of one opening alone, 10,000 calls: median {median:.3f} ms, mean {mean:.3f} ms")
    runtime.close()
    shutil.rmtree(folder, ignore_errors=True)  # the SQLite store and its keys: nothing to keep


if __name__ == "__main__":
    main()
