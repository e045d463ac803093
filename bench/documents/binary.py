"""Document content read over HTTP (ITI-68, `GET /fhir/Binary/{id}`): latency of a 1 MB PDF,
and the server's memory while it streams a 20 MB PDF.

    .venv/bin/python bench/documents/binary.py --db sqlite
    .venv/bin/python bench/documents/binary.py --db postgres

A fresh store (`opendmp db upgrade && opendmp seed --patients 2000 --seed 42`), the server with
OPENDMP_MAX_DOCUMENT_BYTES=25000000, pinned to core 0; this process on core 1. As the doctor
(dev token), into the first record of the store:

    1. publish a 1,000,000-byte PDF with `POST /fhir/DocumentReference` (inline base64);
    2. publish a 20,000,000-byte PDF the same way, and if the server refuses it, as an ITI-65
       bundle; if both are refused over HTTP (the request body limit), file it in process with
       `opendmp.document.service.submit_document` (same vault, same journal) and say so;
    3. restart the server (a fresh process: the uploads' memory does not count), warm it up
       with 20 reads of the 1 MB document, then measure:
       (a) concurrency 1: --reads sequential reads of the 1 MB document on one keep-alive
           connection, each answer checked (length and SHA-256); p50/p95/p99, server CPU/read;
       (b) concurrency 16: 16 threads × reads/16 reads (throughput);
       (c) memory: the server's VmRSS (/proc/<pid>/status) sampled every 2 ms while idle for
           1 s (idle = the median), then during --big-reads downloads of the 20 MB document
           read by the client 64 KiB at a time; peak minus idle;
       (d) for information, the same 20 MB document asked as FHIR JSON (Accept:
           application/fhir+json: a Binary resource with base64 data), peak minus idle.

PDF bytes: b"%PDF-1.4\\n" then SHAKE-256 filler (deterministic).

Goal (issue): p99 <= 20 ms for the 1 MB read at concurrency 1 (SQLite and PostgreSQL); server
memory while streaming the 20 MB document <= 5 MB above idle.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import doclib as dl
from doclib import bl

GOAL_P99_MS = 20.0
GOAL_RSS_MB = 5.0
SMALL = 1_000_000
BIG = 20_000_000
MAX_BYTES = 25_000_000
JSON_HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def pdf(size: int, label: str) -> bytes:
    head = b"%PDF-1.4\n"
    return head + hashlib.shake_256(label.encode()).digest(size - len(head))


def reference(record_id: str, content: bytes, unique_id: str, *, inline: bool) -> dict[str, Any]:
    attachment: dict[str, Any] = {"contentType": "application/pdf", "title": "Imagerie", "size": len(content)}
    if inline:
        attachment["data"] = base64.b64encode(content).decode()
    else:
        attachment["url"] = "urn:uuid:00000000-0000-4000-8000-000000000b01"
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": unique_id},
        "type": {"coding": [{"system": "http://loinc.org", "code": "18748-4"}]},
        "subject": {"reference": f"Patient/{record_id}"},
        "content": [{"attachment": attachment}],
    }


def publish(conn: dl.Connection, record_id: str, content: bytes, unique_id: str) -> tuple[str | None, str]:
    """POST /fhir/DocumentReference, then an ITI-65 bundle: (document id or None, what happened)."""
    body = json.dumps(reference(record_id, content, unique_id, inline=True)).encode()
    _, status, answer = conn.call("POST", "/fhir/DocumentReference", body, JSON_HEADERS)
    if status in (200, 201):
        return str(json.loads(answer)["id"]), f"POST /fhir/DocumentReference ({len(body):,} bytes): {status}"
    tried = f"POST /fhir/DocumentReference ({len(body):,} bytes): {status} {answer[:160]!r}"
    ref = reference(record_id, content, unique_id, inline=False)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000a01",
                "resource": {
                    "resourceType": "List",
                    "status": "current",
                    "mode": "working",
                    "subject": {"reference": f"Patient/{record_id}"},
                    "identifier": [{"use": "official", "value": f"urn:oid:{unique_id}.1"}],
                },
                "request": {"method": "POST", "url": "List"},
            },
            {"resource": ref, "request": {"method": "POST", "url": "DocumentReference"}},
            {
                "fullUrl": ref["content"][0]["attachment"]["url"],
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/pdf",
                    "data": base64.b64encode(content).decode(),
                },
                "request": {"method": "POST", "url": "Binary"},
            },
        ],
    }
    body = json.dumps(bundle).encode()
    _, status, answer = conn.call("POST", "/fhir", body, JSON_HEADERS)
    if status == 200:
        location = json.loads(answer)["entry"][1]["response"]["location"]
        return location.split("/")[1], f"{tried}; ITI-65 ({len(body):,} bytes): 200"
    return None, f"{tried}; ITI-65 ({len(body):,} bytes): {status} {answer[:160]!r}"


def publish_in_process(t: bl.Target, rpps: str, record_id: str, content: bytes, unique_id: str) -> str:
    """submit_document in a unit of work, as the same doctor (what the route does once decoded)."""
    from opendmp.config import Settings
    from opendmp.document import service as documents
    from opendmp.fhir.document import parse_document_reference
    from opendmp.identity.actor import Actor
    from opendmp.kit.db import unit_of_work
    from opendmp.runtime import build_runtime

    os.environ.update({k: v for k, v in t.env.items() if k.startswith("OPENDMP_")})
    runtime = build_runtime(Settings(), pool_size=1)
    try:
        item = parse_document_reference(reference(record_id, content, unique_id, inline=False))
        with unit_of_work(runtime.sessions) as session:
            stored = documents.submit_document(
                session,
                Actor.professional(rpps, "10").at("127.0.0.1"),
                item,
                content,
                runtime.clock.now(),
                runtime.vault,
                max_size=runtime.settings.max_document_bytes,
            )
        return str(stored.document.id)
    finally:
        runtime.close()


class RssSampler(threading.Thread):
    """VmRSS of a process every `interval` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[int] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append(bl.rss_bytes(self.pid))
            time.sleep(self.interval)

    def stop(self) -> list[int]:
        self.stopped.set()
        self.join()
        return self.samples


def download(
    port: int, bearer: str, document_id: str, accept: str | None = None, pause: float = 0.0
) -> tuple[float, int, str]:
    """Read the answer 64 KiB at a time (sleeping `pause` seconds between reads: a slow client):
    (seconds, bytes, SHA-256 of the body)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {bearer}"}
    if accept:
        headers["Accept"] = accept
    started = time.perf_counter()
    conn.request("GET", f"/fhir/Binary/{document_id}", headers=headers)
    response = conn.getresponse()
    digest, size = hashlib.sha256(), 0
    while chunk := response.read(65536):
        digest.update(chunk)
        size += len(chunk)
        if pause:
            time.sleep(pause)
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise SystemExit(f"GET /fhir/Binary/{document_id}: {response.status}")
    return elapsed, size, digest.hexdigest()


def high_water_mark(pid: int, reset: bool = False) -> int:
    """VmHWM, the kernel's own peak of the resident set; `reset` restarts it from the current RSS
    (writing 5 to /proc/<pid>/clear_refs), so no peak between two samples is missed."""
    if reset:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def reads(port: int, bearer: str, document_id: str, expected: str, count: int, threads: int, meter: dl.Meter) -> dict:
    results: list[tuple[list[float], int]] = [([], 0)] * threads
    start = threading.Barrier(threads + 1)
    path = f"/fhir/Binary/{document_id}"

    def worker(index: int) -> None:
        conn = dl.Connection(port, bearer)
        conn.call("GET", "/healthz")
        latencies, errors = [], 0
        start.wait()
        for _ in range(count // threads):
            elapsed, status, body = conn.call("GET", path)
            latencies.append(elapsed)
            errors += status != 200 or len(body) != SMALL or hashlib.sha256(body).hexdigest() != expected
        results[index] = (latencies, errors)
        conn.close()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    with meter:
        start.wait()
        for thread in pool:
            thread.join()
    latencies = [x for lat, _ in results for x in lat]
    return {
        "threads": threads,
        "errors": sum(e for _, e in results),
        "reads_per_s": round(len(latencies) / meter.wall, 1),
        "mb_per_s": round(len(latencies) * SMALL / meter.wall / 1e6, 1),
        **dl.latency_figures(latencies),
        **meter.figures(len(latencies)),
    }


def idle_rss(pid: int, seconds: float = 1.0) -> int:
    sampler = RssSampler(pid)
    sampler.start()
    time.sleep(seconds)
    return int(statistics.median(sampler.stop()))


def memory(
    port: int, pid: int, bearer: str, document_id: str, expected: str, count: int, accept: str | None, pause: float
) -> dict[str, Any]:
    idle = idle_rss(pid)
    peaks, hwms, times, sampled = [], [], [], []
    for _ in range(count):
        high_water_mark(pid, reset=True)
        sampler = RssSampler(pid)
        sampler.start()
        elapsed, size, digest = download(port, bearer, document_id, accept, pause)
        samples = sampler.stop()
        if accept is None and (size != BIG or digest != expected):
            raise SystemExit(f"the 20 MB download came back wrong ({size} bytes)")
        hwms.append(high_water_mark(pid))
        peaks.append(max(samples))
        sampled.append(len(samples))
        times.append(elapsed)
        time.sleep(0.2)
    after = idle_rss(pid, 0.5)
    peak = max(*peaks, *hwms)
    return {
        "downloads": count,
        "pause_s": pause,
        "idle_rss_mb": round(idle / 1024**2, 2),
        "peak_rss_mb": round(peak / 1024**2, 2),
        "peak_above_idle_mb": round((peak - idle) / 1024**2, 2),
        "sampled_peak_above_idle_mb": round((max(peaks) - idle) / 1024**2, 2),
        "hwm_peak_above_idle_mb": round((max(hwms) - idle) / 1024**2, 2),
        "first_peak_above_idle_mb": round((max(peaks[0], hwms[0]) - idle) / 1024**2, 2),
        "rss_after_mb": round(after / 1024**2, 2),
        "samples_per_download": round(sum(sampled) / len(sampled)),
        "download_s": [round(x, 3) for x in times],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    t = dl.target(args.db, "binary", {"OPENDMP_MAX_DOCUMENT_BYTES": str(MAX_BYTES)})
    machine = bl.machine()
    calibration = dl.calibrate(args.server_core)
    print(f"preparing a fresh store ({args.patients:,} records, seed {args.seed}) in {t.data_dir}…", flush=True)
    prepared = dl.prepare(t, args.patients, args.seed)
    rpps = dl.doctor(t)
    record_id = str(dl.records(t)[0][0])
    bearer = dl.token(t, "--rpps", rpps)
    small, big = pdf(SMALL, f"{args.seed}:small"), pdf(BIG, f"{args.seed}:big")
    small_sha, big_sha = hashlib.sha256(small).hexdigest(), hashlib.sha256(big).hexdigest()
    server = dl.Server(t, args.port, args.server_core)
    try:
        conn = dl.Connection(args.port, bearer)
        small_id, small_how = publish(conn, record_id, small, f"1.2.250.1.999.{args.seed}.1")
        big_id, big_how = publish(conn, record_id, big, f"1.2.250.1.999.{args.seed}.2")
        conn.close()
    finally:
        server.stop()
    if small_id is None:
        raise SystemExit(f"the 1 MB document was refused: {small_how}")
    if big_id is None:
        big_id = publish_in_process(t, rpps, record_id, big, f"1.2.250.1.999.{args.seed}.3")
        big_how += "; filed in process with submit_document instead"
    print(f"1 MB document {small_id}: {small_how}\n20 MB document {big_id}: {big_how}", flush=True)

    server = dl.Server(t, args.port, args.server_core)  # a fresh process for the measurements
    database = dl.database_name(t)
    try:
        os.sched_setaffinity(0, {args.client_core})
        warm = reads(args.port, bearer, small_id, small_sha, 20, 1, dl.Meter(server.pid, database))
        c1 = reads(args.port, bearer, small_id, small_sha, args.reads, 1, dl.Meter(server.pid, database))
        c16 = reads(
            args.port, bearer, small_id, small_sha, args.reads, args.concurrency, dl.Meter(server.pid, database)
        )
        streamed = memory(args.port, server.pid, bearer, big_id, big_sha, args.big_reads, None, 0.0)
        slow = memory(args.port, server.pid, bearer, big_id, big_sha, 2, None, 0.005)
        as_json = memory(args.port, server.pid, bearer, big_id, big_sha, 1, "application/fhir+json", 0.0)
    finally:
        server.stop()
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return {
        "benchmark": "documents-binary",
        "date": bl.now_iso(),
        "machine": machine,
        "calibration_ms": calibration,
        "database": dl.database_line(t),
        "db": t.db,
        "patients": args.patients,
        "seed": args.seed,
        "prepare": prepared,
        "rpps": rpps,
        "record_id": record_id,
        "small": {"id": small_id, "bytes": SMALL, "how": small_how},
        "big": {"id": big_id, "bytes": BIG, "how": big_how},
        "server_command": server.command,
        "warmup": warm,
        "c1": c1,
        "c16": c16,
        "stream_memory": streamed,
        "slow_client_memory": slow,
        "fhir_json_memory": as_json,
    }


def report(r: dict[str, Any]) -> str:
    c1, c16, mem, js = r["c1"], r["c16"], r["stream_memory"], r["fhir_json_memory"]
    slow = r["slow_client_memory"]
    worst = max(mem["peak_above_idle_mb"], slow["peak_above_idle_mb"])

    def cpu(p: dict[str, Any]) -> str:
        pg = p["postgres_cpu_ms_per_op"]
        return (
            f"server CPU {p['server_cpu_ms_per_op']:.3f} ms/read"
            + (f", PostgreSQL backends {pg:.3f} ms/read" if pg is not None else "")
            + f", client {p['client_cpu_ms_per_op']:.3f} ms/read; other processes {p['other_load_cores']:.2f} cores"
        )

    lines = [
        *dl.header(f"opendmp document content read benchmark, ITI-68 ({r['db']})", r),
        f"dataset   {r['patients']:,} seeded records (seed {r['seed']}); in record {r['record_id']}: a PDF of "
        f"{r['small']['bytes']:,} bytes and one of {r['big']['bytes']:,} bytes, as the doctor RPPS {r['rpps']}",
        f"          1 MB: {r['small']['how']}",
        f"          20 MB: {r['big']['how']}",
        f"server    {r['server_command']} (restarted after the uploads)",
        f"command   .venv/bin/python bench/documents/binary.py --db {r['db']}",
        "figures",
        f"  1 MB, concurrency 1: {c1['count']:,} reads, {c1['errors']} errors; p50 {c1['p50_ms']:.2f} ms, "
        f"p95 {c1['p95_ms']:.2f} ms, p99 {c1['p99_ms']:.2f} ms, max {c1['max_ms']:.2f} ms; "
        f"{c1['reads_per_s']:,.0f} reads/s ({c1['mb_per_s']:.0f} MB/s)",
        f"    {cpu(c1)}",
        f"  1 MB, concurrency {c16['threads']}: {c16['count']:,} reads, {c16['errors']} errors; "
        f"{c16['reads_per_s']:,.0f} reads/s ({c16['mb_per_s']:.0f} MB/s); p50 {c16['p50_ms']:.1f} ms, "
        f"p99 {c16['p99_ms']:.1f} ms",
        f"    {cpu(c16)}",
        f"  20 MB streamed ({mem['downloads']} downloads; VmRSS sampled every 2 ms, ~{mem['samples_per_download']} "
        f"samples each, and VmHWM reset before each): idle {mem['idle_rss_mb']:.1f} MB, peak {mem['peak_rss_mb']:.1f} "
        f"MB -> {mem['peak_above_idle_mb']:.2f} MB above idle (sampled {mem['sampled_peak_above_idle_mb']:.2f}, "
        f"VmHWM {mem['hwm_peak_above_idle_mb']:.2f}; first download {mem['first_peak_above_idle_mb']:.2f}); "
        f"{', '.join(f'{x:.2f}' for x in mem['download_s'])} s per download; RSS after {mem['rss_after_mb']:.1f} MB",
        f"  20 MB to a slow client (reads 64 KiB then sleeps 5 ms; {slow['downloads']} downloads of "
        f"{', '.join(f'{x:.1f}' for x in slow['download_s'])} s): peak {slow['peak_above_idle_mb']:.2f} MB above "
        f"idle (sampled {slow['sampled_peak_above_idle_mb']:.2f}, VmHWM {slow['hwm_peak_above_idle_mb']:.2f})",
        f"  20 MB as FHIR JSON (Accept: application/fhir+json, for information): idle {js['idle_rss_mb']:.1f} MB, "
        f"peak {js['peak_rss_mb']:.1f} MB -> {js['peak_above_idle_mb']:.1f} MB above idle, "
        f"{js['download_s'][0]:.2f} s",
        f"goal      1 MB p99 <= {GOAL_P99_MS:.0f} ms at c=1: {dl.met(c1['p99_ms'] <= GOAL_P99_MS)} "
        f"({c1['p99_ms']:.2f} ms); streaming 20 MB <= {GOAL_RSS_MB:.0f} MB above idle: "
        f"{dl.met(worst <= GOAL_RSS_MB)} ({worst:.2f} MB, fast and slow clients)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reads", type=int, default=1000, help="1 MB reads per concurrency level")
    parser.add_argument("--big-reads", type=int, default=5, help="20 MB downloads while sampling RSS")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=8133)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    result = run(args)
    print(report(result), flush=True)
    bl.save_json(args.json, result)


if __name__ == "__main__":
    main()
