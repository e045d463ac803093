"""`opendmp feed …`: the insurer's reimbursement files, and synthetic ones."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def register_reimbursement_commands(feed_app: typer.Typer) -> None:
    """Adds the commands to `opendmp feed` (cli.py owns the group, shared with establishment feeds)."""
    feed_app.command("reimbursements")(feed_reimbursements)
    feed_app.command("generate")(feed_generate)


def feed_reimbursements(
    files: Annotated[list[Path], typer.Argument(help="claim files: NDJSON (.ndjson, .jsonl) or CSV (.csv)")],
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="write refused lines here (CSV: file, line, claim_id, reason)")
    ] = None,
    chunk: Annotated[int, typer.Option(help="lines per transaction")] = 50_000,
    parse_in_worker: Annotated[
        bool,
        typer.Option(
            "--parse-in-worker", help="parse in a second process, one chunk ahead of the filing (needs a free core)"
        ),
    ] = False,
) -> None:
    """Stream claim lines in: idempotent per claim id, bad lines into the rejects file, one
    transaction per chunk. Exits 1 when a line was rejected or a file unreadable."""
    from opendmp.cli import domain_errors, err, fail, out, progress, runtime_scope
    from opendmp.feed.ingest import RejectsWriter, feed_files

    if chunk < 1:
        raise fail("--chunk is at least 1", 2)
    total = sum(p.stat().st_size for p in files if p.is_file())
    rejects_out = rejects.open("w", encoding="utf-8", newline="") if rejects else None
    try:
        with runtime_scope() as runtime, domain_errors(), progress() as bar:
            task = bar.add_task("claim lines", total=total or None)

            def advance(position: int) -> None:
                bar.update(task, completed=min(total, position))

            report = feed_files(
                runtime.sessions,
                runtime.vault.keys,
                runtime.clock,
                files,
                RejectsWriter(rejects_out),
                chunk_lines=chunk,
                on_progress=advance,
                parse_in_worker=parse_in_worker,
            )
            bar.update(task, completed=total)
    finally:
        if rejects_out is not None:
            rejects_out.close()
    o = report.outcome
    out.print(
        f"read {report.lines} lines: {o.stored} filed in {o.records} record batches, {o.parked} parked "
        f"(no record yet), {o.already_fed} already fed, {o.not_open} for records not open, "
        f"{report.rejected} rejected"
    )
    for problem in report.unreadable:
        err.print(f"[bold red]error:[/] unreadable file {problem}", highlight=False)
    if report.rejected:
        where = f" (see {rejects})" if rejects else " (give --rejects FILE to keep them)"
        err.print(f"[bold red]error:[/] {report.rejected} line(s) rejected{where}", highlight=False)
    if report.failed:
        raise typer.Exit(1)


def feed_generate(
    out_path: Annotated[Path, typer.Argument(help="the NDJSON file to write ('-': standard output)")],
    lines: Annotated[int, typer.Option("--lines", help="claim lines to write")] = 1000,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    people: Annotated[int, typer.Option("--people", help="distinct NIRs (ignored with --from-records)")] = 100,
    from_records: Annotated[
        bool, typer.Option("--from-records", help="the NIRs of the records in the database")
    ] = False,
) -> None:
    """A deterministic synthetic claim file (GP visits, pharmacy, lab, imaging, devices, stays)."""
    from opendmp.cli import fail, runtime_scope
    from opendmp.feed import generator

    if lines < 0 or people < 1:
        raise fail("--lines is at least 0 and --people at least 1", 2)
    if from_records:
        from sqlalchemy import select

        from opendmp.identity.models import Patient

        with runtime_scope() as runtime, runtime.sessions() as session:
            nirs = list(session.execute(select(Patient.ins_value).order_by(Patient.ins_value)).scalars())
            today = runtime.clock.now().date()
        if not nirs:
            raise fail("no records in the database (run `opendmp seed` first)", 4)
    else:
        from datetime import UTC, datetime

        nirs, today = generator.people(people, seed), datetime.now(UTC).date()
    if str(out_path) == "-":
        generator.write(sys.stdout.buffer, lines, seed, nirs, today)
        return
    with out_path.open("wb") as out:
        generator.write(out, lines, seed, nirs, today)
