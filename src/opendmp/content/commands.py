"""CLI commands of the patient's content (`opendmp content …`, `vaccination …`, `directives …`),
registered by cli.py. The policy decides as for the API, so each command acts as a person:
`--ins NIR` (the holder, a representative) or `--rpps RPPS` (a professional of the directory).
Acting as someone else is a development tool, like `dev-token`: dev mode only."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from opendmp.content.schemas import ContentItem, ContentKind

content_app = typer.Typer(no_args_is_help=True, help="The patient's content (expression libre), as a person.")
vaccination_app = typer.Typer(no_args_is_help=True, help="The vaccination record and the French schedule.")
directives_app = typer.Typer(no_args_is_help=True, help="Advance directives from the questionnaire.")

InsOption = Annotated[str | None, typer.Option("--ins", help="act as this person (NIR or system|NIR)")]
RppsOption = Annotated[str | None, typer.Option("--rpps", help="act as this professional")]
JsonOption = Annotated[bool, typer.Option("--json", help="FHIR JSON on standard output")]


def _actor(runtime: Any, ins: str | None, rpps: str | None) -> Any:
    from opendmp import cli
    from opendmp.identity.actor import Actor

    if not runtime.settings.dev_mode:
        raise cli.fail("acting as a person from the command line works only in dev mode (OPENDMP_DEV_MODE=true)")
    if (ins is None) == (rpps is None):
        raise cli.fail("give exactly one of --ins (a person) or --rpps (a professional)", 2)
    return cli._professional_actor(runtime, rpps) if rpps else Actor.patient(cli._ins_of(runtime, str(ins)))


def _record(runtime: Any, text: str) -> uuid.UUID:
    """A record id, or the holder's NIR."""
    from opendmp import cli
    from opendmp.kit.ids import parse_id
    from opendmp.record import repository as records_repo

    found = parse_id(text)
    if found is not None:
        return found
    with runtime.sessions() as session:
        record_id = records_repo.record_id_by_ins(session, cli._ins_of(runtime, text))
    if record_id is None:
        raise cli.fail(f"no record for {text}", 4)
    return record_id


def _print_items(items: list[ContentItem], as_json: bool) -> None:
    from opendmp import cli
    from opendmp.fhir import content as fhir_content

    if as_json:
        cli.out.print(
            json.dumps([fhir_content.to_fhir(i) for i in items], ensure_ascii=False), highlight=False, markup=False
        )
        return
    for item in items:
        cli.out.print(f"{item.id} {item.kind.value} v{item.version} {_describe(item)}", highlight=False, markup=False)


def _describe(item: ContentItem) -> str:
    from opendmp.content import codes
    from opendmp.content.schemas import Vaccination
    from opendmp.fhir.content import describe_item

    data = item.data
    if isinstance(data, Vaccination):
        origin = "déclarée par le patient" if not data.primary_source else f"RPPS {data.performer_rpps}"
        lot = f" lot {data.lot_number}" if data.lot_number else ""
        return f"{data.on:%d/%m/%Y} {codes.vaccine(data.vaccine_code).display_fr}{lot} ({origin})"
    return describe_item(item)


@content_app.command("summary")
def content_summary(record: str, ins: InsOption = None, rpps: RppsOption = None, as_json: JsonOption = False) -> None:
    """The emergency summary: blood group, allergies, treatments, people to notify, advance
    directives (whether they exist) and the trusted person."""
    from opendmp import cli
    from opendmp.content import service
    from opendmp.fhir import content as fhir_content
    from opendmp.kit.db import unit_of_work

    with cli.runtime_scope() as runtime, cli.domain_errors():
        actor, record_id = _actor(runtime, ins, rpps), _record(runtime, record)
        with unit_of_work(runtime.sessions) as session:
            summary = service.emergency_summary(session, actor, record_id, runtime.clock.now(), runtime.vault.keys)
    if as_json:
        bundle = fhir_content.emergency_bundle(summary, runtime.settings.public_base_url.rstrip("/"))
        cli.out.print(json.dumps(bundle, ensure_ascii=False), highlight=False, markup=False)
        return
    lines = [
        f"Résumé d'urgence — {summary.given} {summary.family}, né(e) le {summary.birth_date:%d/%m/%Y}",
        f"  Groupe sanguin : {_describe(summary.blood_group) if summary.blood_group else 'non renseigné'}",
        "  Allergies : " + ("; ".join(_describe(i) for i in summary.allergies) or "aucune renseignée"),
        "  Traitements : " + ("; ".join(_describe(i) for i in summary.treatments) or "aucun renseigné"),
        "  Personnes à prévenir : " + ("; ".join(_describe(i) for i in summary.people_to_notify) or "aucune"),
    ]
    directives = summary.advance_directives
    lines.append(
        f"  Directives anticipées : oui (version {directives.version} du {directives.filed_at:%d/%m/%Y}, "
        f"DocumentReference/{directives.document_id})"
        if directives
        else "  Directives anticipées : aucune"
    )
    person = summary.trusted_person
    lines.append(
        "  Personne de confiance : "
        + (", ".join(x for x in (person.name, person.phone, person.email) if x) if person else "non désignée")
    )
    cli.out.print("\n".join(lines), highlight=False, markup=False)


@content_app.command("list")
def content_list(
    record: str,
    kind: Annotated[list[ContentKind], typer.Option("--kind", help="blood-group, allergy, …")],
    ins: InsOption = None,
    rpps: RppsOption = None,
    as_json: JsonOption = False,
) -> None:
    """The record's items of these kinds."""
    from opendmp import cli
    from opendmp.content import service
    from opendmp.kit.db import unit_of_work

    with cli.runtime_scope() as runtime, cli.domain_errors():
        actor, record_id = _actor(runtime, ins, rpps), _record(runtime, record)
        with unit_of_work(runtime.sessions) as session:
            items = service.list_content(session, actor, record_id, kind, runtime.clock.now(), runtime.vault.keys)
    _print_items(items, as_json)


@content_app.command("add")
def content_add(
    record: str,
    file: Annotated[Path, typer.Argument(help="a FHIR resource: Observation (882-1), AllergyIntolerance, …")],
    ins: InsOption = None,
    rpps: RppsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add one item from a FHIR JSON file (the patient field may be left out)."""
    from opendmp import cli
    from opendmp.content import service
    from opendmp.fhir import content as fhir_content
    from opendmp.kit.db import unit_of_work

    try:
        resource = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise cli.fail(f"cannot read {file}: {error}", 2) from error
    if not isinstance(resource, dict):
        raise cli.fail(f"{file} is not a FHIR resource (a JSON object)", 2)
    with cli.runtime_scope() as runtime, cli.domain_errors():
        actor, record_id = _actor(runtime, ins, rpps), _record(runtime, record)
        data = fhir_content.parse_content(resource)
        with unit_of_work(runtime.sessions) as session:
            item = service.add_content(session, actor, record_id, data, runtime.clock.now(), runtime.vault.keys)
    _print_items([item], as_json)


@content_app.command("note")
def content_note(
    record: str,
    text: Annotated[str, typer.Option("--text", help="the note, in the patient's words")],
    title: Annotated[str | None, typer.Option("--title")] = None,
    ins: InsOption = None,
    rpps: RppsOption = None,
) -> None:
    """Add a free note (expression libre; not served as a FHIR resource)."""
    from opendmp import cli
    from opendmp.content import service
    from opendmp.content.schemas import Note
    from opendmp.kit.db import unit_of_work

    with cli.runtime_scope() as runtime, cli.domain_errors():
        actor, record_id = _actor(runtime, ins, rpps), _record(runtime, record)
        with unit_of_work(runtime.sessions) as session:
            item = service.add_content(
                session, actor, record_id, Note(text, title), runtime.clock.now(), runtime.vault.keys
            )
    cli.out.print(f"{item.id} note v{item.version}", highlight=False, markup=False)


def _day(text: str, option: str) -> date:
    from opendmp import cli

    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise cli.fail(f"{option} must be a date YYYY-MM-DD, not {text!r}", 2) from error


@vaccination_app.command("add")
def vaccination_add(
    record: str,
    vaccine: Annotated[str, typer.Option(help="ATC code (src/opendmp/data/vaccines.csv)")],
    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    lot: Annotated[str | None, typer.Option(help="lot number")] = None,
    ins: InsOption = None,
    rpps: RppsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a dose (as the professional who gave it) or declare one (as the patient)."""
    from opendmp import cli
    from opendmp.content import service
    from opendmp.content.schemas import Vaccination
    from opendmp.kit.db import unit_of_work

    day = _day(on, "--date")
    with cli.runtime_scope() as runtime, cli.domain_errors():
        actor, record_id = _actor(runtime, ins, rpps), _record(runtime, record)
        with unit_of_work(runtime.sessions) as session:
            item = service.add_content(
                session,
                actor,
                record_id,
                Vaccination(vaccine, day, lot_number=lot),
                runtime.clock.now(),
                runtime.vault.keys,
            )
    _print_items([item], as_json)


@vaccination_app.command("due")
def vaccination_due(record: str, ins: InsOption = None, rpps: RppsOption = None, as_json: JsonOption = False) -> None:
    """The doses recorded and what the French schedule asks now (overdue, due, within a year)."""
    from opendmp import cli
    from opendmp.content import service
    from opendmp.fhir import content as fhir_content
    from opendmp.kit.db import unit_of_work

    with cli.runtime_scope() as runtime, cli.domain_errors():
        actor, record_id = _actor(runtime, ins, rpps), _record(runtime, record)
        now = runtime.clock.now()
        with unit_of_work(runtime.sessions) as session:
            carnet = service.vaccination_record(session, actor, record_id, now, runtime.vault.keys)
    if as_json:
        resource = fhir_content.recommendation(record_id, carnet.schedule, now)
        cli.out.print(json.dumps(resource, ensure_ascii=False), highlight=False, markup=False)
        return
    report = carnet.schedule
    cli.out.print(f"Âge : {report.age_months // 12} ans {report.age_months % 12} mois", highlight=False, markup=False)
    cli.out.print("Vaccinations enregistrées :", highlight=False, markup=False)
    for item in carnet.vaccinations:
        cli.out.print(f"  {_describe(item)}", highlight=False, markup=False)
    if not carnet.vaccinations:
        cli.out.print("  aucune", highlight=False, markup=False)
    labels = {"overdue": "en retard", "due": "à faire", "upcoming": "à venir"}
    cli.out.print("Selon le calendrier vaccinal :", highlight=False, markup=False)
    for due in report.due:
        cli.out.print(
            f"  [{labels[due.status.value]}] {due.line.label_fr} — à partir du {due.due_on:%d/%m/%Y}", highlight=False
        )
    if not report.due:
        cli.out.print("  rien à faire dans l'année", highlight=False, markup=False)


def _answer_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else None


@directives_app.command("write")
def directives_write(
    record: str,
    answers: Annotated[Path, typer.Argument(help="JSON object of answers keyed by heading (see README)")],
    ins: InsOption = None,
    rpps: RppsOption = None,
) -> None:
    """File the questionnaire's answers as the holder's advance directives (a new version replaces
    the previous one). Missing mandatory answers are all named."""
    from opendmp import cli
    from opendmp.content import directives
    from opendmp.kit.db import unit_of_work

    try:
        raw = json.loads(answers.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise cli.fail(f"cannot read {answers}: {error}", 2) from error
    if not isinstance(raw, dict):
        raise cli.fail(f"{answers} must hold a JSON object of answers", 2)
    with cli.runtime_scope() as runtime, cli.domain_errors():
        parsed = directives.parse_answers({str(k): _answer_text(v) for k, v in raw.items()})
        actor, record_id = _actor(runtime, ins, rpps), _record(runtime, record)
        with unit_of_work(runtime.sessions) as session:
            written = directives.write_directives(
                session,
                actor,
                record_id,
                parsed,
                runtime.clock.now(),
                runtime.vault,
                max_size=runtime.settings.max_document_bytes,
            )
    document = written.stored.document
    replaced = f", replaces DocumentReference/{written.replaced}" if written.replaced else ""
    cli.out.print(
        f"DocumentReference/{document.id} version {document.version}{replaced}", highlight=False, markup=False
    )
