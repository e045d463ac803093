"""The operator's command line (Typer + rich). Errors print one clear line and exit non-zero;
standard output carries only results (tokens, JSON), logs and progress go to standard error."""

from __future__ import annotations

import getpass
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from opendmp.config import Settings
from opendmp.kit.errors import DomainError, ErrorKind

app = typer.Typer(no_args_is_help=True, add_completion=False, help="OpenDMP: the shared medical record service.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
record_app = typer.Typer(no_args_is_help=True, help="Record lifecycle, as an operator.")
professional_app = typer.Typer(no_args_is_help=True, help="Professionals of the directory.")
organisation_app = typer.Typer(no_args_is_help=True, help="Organisations of the directory.")
directory_app = typer.Typer(no_args_is_help=True, help="Public directory extracts (RPPS, FINESS).")
jobs_app = typer.Typer(no_args_is_help=True, help="Scheduled jobs.")
audit_app = typer.Typer(no_args_is_help=True, help="Audit: check the journal.")
app.add_typer(db_app, name="db")
app.add_typer(record_app, name="record")
app.add_typer(professional_app, name="professional")
app.add_typer(organisation_app, name="organisation")
app.add_typer(directory_app, name="directory")
app.add_typer(jobs_app, name="jobs")
app.add_typer(audit_app, name="audit")
ledger_app = typer.Typer(no_args_is_help=True, help="The remuneration ledger.")
app.add_typer(ledger_app, name="ledger")

err = Console(stderr=True, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

EXIT_CODES = {
    ErrorKind.INVALID: 2,
    ErrorKind.UNAUTHENTICATED: 3,
    ErrorKind.FORBIDDEN: 3,
    ErrorKind.NOT_FOUND: 4,
    ErrorKind.CONFLICT: 5,
    ErrorKind.PRECONDITION: 5,
    ErrorKind.BUSINESS_RULE: 6,
    ErrorKind.TOO_LARGE: 2,
    ErrorKind.TOO_MANY_REQUESTS: 5,
}


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as error:
        raise fail(f"invalid settings: {error.errors()[0]['msg']}") from error


@contextmanager
def runtime_scope(s: Settings | None = None) -> Iterator[Any]:
    from opendmp.kit.keys import MissingKey
    from opendmp.runtime import build_runtime

    try:
        runtime = build_runtime(s or settings(), pool_size=2)
    except MissingKey as error:
        raise fail(str(error)) from error
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def domain_errors() -> Iterator[None]:
    """One clear line and an exit code per kind of domain error."""
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except DomainError as error:
        where = f" ({error.field})" if error.field else ""
        raise fail(f"{error.message}{where}", EXIT_CODES.get(error.kind, 1)) from error
    except OperationalError as error:
        raise fail(f"database unavailable or not migrated (run `opendmp db upgrade`): {error.orig}") from error


def operator_actor() -> Any:
    from opendmp.identity.actor import Actor

    return Actor.operator(f"cli:{getpass.getuser()}")


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


# ---------------------------------------------------------------- database


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema (as the admin role on PostgreSQL, granting the application role)."""
    from opendmp import migrate

    s = settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        migrate.upgrade(s.resolved_database_url, s.admin_database_url, revision)
    except Exception as error:
        raise fail(f"migration failed: {type(error).__name__}: {str(error).splitlines()[0]}") from error
    err.print(f"database at revision {migrate.current_revision(s.resolved_database_url)}")


# ---------------------------------------------------------------- serving


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the HTTP API and portal with uvicorn."""
    import uvicorn

    from opendmp.kit.logging import configure_logging

    s = settings()
    configure_logging(s.log_level, json=s.log_json)
    if s.is_production:
        from opendmp.kit.keys import MissingKey, load_keys

        try:
            load_keys(s)
        except MissingKey as error:
            raise fail(f"production refuses to start: {error}") from error
    uvicorn.run(
        "opendmp.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level=s.log_level.lower(),
        server_header=False,
    )


@app.command()
def demo(
    host: str = "127.0.0.1",
    port: int = 8000,
    patients: int = 2000,
    seed_value: Annotated[int, typer.Option("--seed")] = 42,
    provider: Annotated[
        bool, typer.Option(help="start a local OpenID provider (oidc-provider-mock) for the login pages")
    ] = True,
    documents_per_week: Annotated[
        float, typer.Option(min=0, help="synthetic documents per record and week open (first load only)")
    ] = 0.025,
) -> None:
    """Dev mode on the embedded SQLite store: migrate, load demo data (once), serve, explain."""
    import os

    os.environ["OPENDMP_DEV_MODE"] = "true"
    s = settings()
    from opendmp import migrate

    s.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(s.resolved_database_url, s.admin_database_url)
    with runtime_scope(s) as runtime:
        from opendmp.seed import has_data, seed_platform

        if not has_data(runtime):
            err.print(f"loading demo data: {patients} patients (seed {seed_value})…")
            with progress() as bar:
                task = bar.add_task("records", total=patients)
                # The openings span the weeks up to the last complete one, so the dashboard's curves
                # (/exploitation/tableau-de-bord) reach today and project the target from a real pace.
                from datetime import timedelta

                from opendmp.seed import DEFAULT_WEEKS

                today = runtime.clock.now().date()
                start = today - timedelta(days=today.weekday(), weeks=DEFAULT_WEEKS)
                seed_platform(
                    runtime,
                    patients=patients,
                    seed=seed_value,
                    start=start,
                    on_progress=lambda n: bar.update(task, completed=n),
                )
                # Documents over those weeks, for the dashboard's curves by source and type.
                from opendmp.document.synthetic import seed_documents

                documents_task = bar.add_task("records with documents", total=None)
                seed_documents(
                    runtime,
                    seed=seed_value,
                    until=runtime.clock.now(),
                    per_week=documents_per_week,
                    on_progress=lambda n, of: bar.update(documents_task, completed=n, total=of),
                )
        from opendmp.jobs import run_jobs

        run_jobs(runtime.job_context(), runtime.clock.now())
        sample = _demo_examples(runtime)
        _demo_contacts(runtime, sample["nir"])
        from opendmp.content.demo import fill_sample  # issue 6: emergency summary, directives, vaccinations

        fill_sample(runtime, sample["nir"], sample["rpps"])
        from opendmp.feed.ingest import fill_demo_history  # issue 6: the reimbursement history

        fill_demo_history(runtime.sessions, runtime.vault.keys, runtime.clock, sample["nir"], s.data_dir)
        sample["activation"] = _demo_activation(runtime, sample["nir"])
        if sample["rpps"] != "?":  # the sample patient's VSM, by the demo doctor as médecin traitant
            from opendmp.summary.demo import write_demo_vsm

            write_demo_vsm(runtime, sample["nir"], _professional_actor(runtime, sample["rpps"]))
        from opendmp.document.synthetic import fill_sample_documents  # a handful, from several authors

        fill_sample_documents(runtime, sample["nir"], None if sample["rpps"] == "?" else sample["rpps"])
    base = f"http://{host}:{port}"
    with _demo_provider(s, base, sample, enabled=provider) as logins, _demo_sender():
        _demo_explain(s, base, sample, logins)
        serve(host=host, port=port)


@contextmanager
def _demo_sender(interval: float = 2.0) -> Iterator[None]:
    """The outbox worker in a thread, so that the demo's one-time codes and notifications appear
    as files in the outbox folder by themselves (elsewhere, `opendmp notify send --loop` runs apart)."""
    import threading

    from opendmp.notify import worker
    from opendmp.notify.senders import make_senders

    stop = threading.Event()

    def run() -> None:
        with runtime_scope() as runtime:
            delivery = worker.Delivery.from_settings(runtime.settings)
            senders = make_senders(runtime.settings)
            while not stop.wait(interval):
                try:
                    worker.send_due(runtime.sessions, senders, runtime.clock, delivery)
                except Exception as error:  # the demo keeps serving; the next pass retries
                    err.print(f"demo outbox: {error}")

    thread = threading.Thread(target=run, name="demo-outbox", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _demo_explain(s: Settings, base: str, sample: dict[str, str], logins: str) -> None:
    activation = sample.get("activation", "").format(base=base)
    err.print(
        f"""
[bold]OpenDMP demo[/] — {base}
  home page          {base}/
  FHIR metadata      {base}/fhir/metadata
  a professional's token:  opendmp dev-token --rpps {sample["rpps"]}
  look a patient up:       curl -H "Authorization: Bearer $TOKEN" -X POST {base}/fhir/Patient/_search \\
                             -d 'identifier=urn:oid:1.2.250.1.213.1.4.11|{sample["nir"]}'
  the patient's token:     opendmp dev-token --ins {sample["nir"]}
  emergency summary:       opendmp content summary {sample["nir"]} --rpps {sample["rpps"]}
  vaccinations, what's due: opendmp vaccination due {sample["nir"]} --ins {sample["nir"]}
{activation}  one-time codes and notifications: files in {s.data_dir.resolve() / "outbox"} (sent every 2 s)
{logins}Data in {s.data_dir.resolve()} (delete it to start over). Ctrl-C stops.
""",
        highlight=False,
    )


@contextmanager
def _demo_provider(s: Settings, base: str, sample: dict[str, str], *, enabled: bool) -> Iterator[str]:
    """A local OpenID provider (oidc-provider-mock, a test dependency) in a thread, its users the
    sample doctor, a pharmacist, a counter agent and an operator; yields how to log in. Skipped
    when a provider is configured, when it is not installed, or with --no-provider."""
    rpps = sample["rpps"]
    import os
    import warnings

    if not enabled or s.oidc_issuer:
        yield f"  professional login:      {base}/connexion/pro\n" if s.oidc_issuer else ""
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # it imports authlib.jose
            import oidc_provider_mock
    except ImportError:
        yield "  professional login:      pip install -e '.[test]' for a local OpenID provider (README)\n"
        return
    users = [
        oidc_provider_mock.User(sub="dr-demo", claims={"preferred_username": "8" + rpps}),
        oidc_provider_mock.User(sub="pharmacien-demo", claims={"preferred_username": "8" + sample["pharmacist"]}),
        oidc_provider_mock.User(sub="agent-demo", claims={}),
        oidc_provider_mock.User(sub="operateur-demo", claims={}),
    ]
    with oidc_provider_mock.run_server_in_thread(port=0, require_nonce=True, user_claims=users) as server:
        issuer = f"http://localhost:{server.server_port}"
        os.environ.update(
            {
                "OPENDMP_OIDC_ISSUER": issuer,
                "OPENDMP_OIDC_CLIENT_ID": "opendmp-demo",
                "OPENDMP_OIDC_CLIENT_SECRET": "demo-secret",
                "OPENDMP_OIDC_SCOPES": "openid profile",
                "OPENDMP_OIDC_REDIRECT_URI": f"{base}/connexion/pro/retour",
            }
        )
        _demo_operator(s.model_copy(update={"oidc_issuer": issuer}), issuer, sample.get("office"))
        yield (
            f"  OpenID provider (demo):  {issuer} — on its page, type the user name below and press the button\n"
            f"  doctor:                  {base}/connexion/pro → user dr-demo (RPPS {rpps}, médecin généraliste);\n"
            f"                           find the sample patient: NIR {sample['nir']}, « NIR de démonstration »\n"
            f"  pharmacist (counter):    {base}/connexion/pro → user pharmacien-demo "
            f"(RPPS {sample['pharmacist']}, opens records at {base}/guichet/ouverture)\n"
            f"  counter agent (CPAM):    {base}/connexion/agent → user agent-demo\n"
            f"  operator:                {base}/connexion/agent → user operateur-demo "
            f"(deployment dashboard: {base}/exploitation/tableau-de-bord)\n"
        )


def _demo_operator(s: Settings, issuer: str, office: str | None = None) -> None:
    from sqlalchemy import select

    from opendmp.auth import staff
    from opendmp.auth.staff_models import StaffAccount, StaffRole
    from opendmp.kit.db import unit_of_work

    with runtime_scope(s) as runtime, unit_of_work(runtime.sessions) as session:
        # The provider's port changes at each start: the demo account follows it.
        account = session.execute(
            select(StaffAccount).where(StaffAccount.name == "operateur-demo")
        ).scalar_one_or_none()
        if account is not None:
            account.issuer = issuer
        else:
            staff.add_staff(
                session,
                operator_actor(),
                staff.StaffIn("operateur-demo", "operateur-demo", issuer),
                runtime.clock.now(),
            )
        # A counter agent of an insurer office, who opens records at the counter.
        agent = session.execute(select(StaffAccount).where(StaffAccount.name == "agent-demo")).scalar_one_or_none()
        if agent is not None:
            agent.issuer = issuer
        elif office is not None:
            role = StaffRole.COUNTER_AGENT
            data = staff.StaffIn("agent-demo", "agent-demo", issuer, role=role, finess=office)
            staff.add_staff(session, operator_actor(), data, runtime.clock.now())


def _demo_examples(runtime: Any) -> dict[str, str]:
    from sqlalchemy import select

    from opendmp.identity.models import Organisation, Patient, Professional, ProfessionalActivity

    with runtime.sessions() as session:
        rpps = session.execute(
            select(Professional.rpps).where(Professional.profession == "10").order_by(Professional.rpps).limit(1)
        ).scalar_one_or_none()
        nir = session.execute(select(Patient.ins_value).order_by(Patient.ins_value).limit(1)).scalar_one_or_none()
        # A pharmacist working in a pharmacy (the counter's channel), and an insurer office.
        pharmacist = session.execute(
            select(Professional.rpps)
            .join(ProfessionalActivity, ProfessionalActivity.professional_id == Professional.id)
            .where(Professional.profession == "21")
            .order_by(Professional.rpps)
            .limit(1)
        ).scalar_one_or_none()
        office = session.execute(
            select(Organisation.finess)
            .where(Organisation.kind == "insurer-office")
            .order_by(Organisation.finess)
            .limit(1)
        ).scalar_one_or_none()
    return {"rpps": rpps or "?", "nir": nir or "?", "pharmacist": pharmacist or "?", "office": office or ""}


def _demo_contacts(runtime: Any, nir: str) -> None:
    """The sample patient gets a (fake) verified email and mobile number, so that the demo's
    notifications can be seen as files in the outbox folder."""
    from sqlalchemy import select

    from opendmp.identity.models import Patient
    from opendmp.kit.db import unit_of_work
    from opendmp.notify import service as notifications
    from opendmp.notify.models import ChannelKind

    with unit_of_work(runtime.sessions) as session:
        record_id = session.execute(
            select(Patient.record_id).where(Patient.ins_value == nir).limit(1)
        ).scalar_one_or_none()
        if record_id is None or notifications.contacts_of(session, record_id):
            return
        now, actor = runtime.clock.now(), operator_actor()
        notifications.set_contact(session, actor, record_id, ChannelKind.EMAIL, "patient.demo@example.org", now)
        notifications.set_contact(session, actor, record_id, ChannelKind.SMS, "+33600000000", now)


def _demo_activation(runtime: Any, nir: str) -> str:
    """The sample patient's identifier and a fresh activation code, as the counter's letter would
    give them, while the account is not activated yet (the demo prints them at each start)."""
    from sqlalchemy import select

    from opendmp.auth import patients
    from opendmp.auth.account_models import AccountStatus, PatientAccount
    from opendmp.auth.hashing import AuthSecrets
    from opendmp.identity.actor import Actor
    from opendmp.identity.models import Patient
    from opendmp.kit.db import unit_of_work

    with unit_of_work(runtime.sessions) as session:
        patient = session.execute(select(Patient).where(Patient.ins_value == nir).limit(1)).scalar_one_or_none()
        if patient is None:
            return ""
        account = session.execute(
            select(PatientAccount).where(PatientAccount.record_id == patient.record_id)
        ).scalar_one_or_none()
        if account is not None and account.status != AccountStatus.PENDING.value:
            return "  patient login:           {base}/connexion (the demo patient's account is active)\n"
        credentials = patients.issue_credentials(
            session,
            Actor.system("demo"),
            patient.record_id,
            runtime.clock.now(),
            AuthSecrets.from_master_key(runtime.keys.master_key),
        )
        born = patient.birth_date.strftime("%d/%m/%Y")
    return (
        f"  patient activation:      {{base}}/activation — identifier {credentials.login_id}, "
        f"code {credentials.activation_code}, NIR {nir}, born {born}\n"
    )


# ---------------------------------------------------------------- tokens


@app.command("dev-token")
def dev_token(
    rpps: Annotated[str | None, typer.Option(help="a professional of the directory")] = None,
    ins: Annotated[str | None, typer.Option(help="a person's NIR (or system|NIR)")] = None,
    operator: Annotated[str | None, typer.Option(help="an operator's name")] = None,
    agent: Annotated[str | None, typer.Option(help="an insurer counter agent's name")] = None,
    finess: Annotated[str | None, typer.Option(help="the agent's office (FINESS)")] = None,
    insurer_feed: Annotated[bool, typer.Option("--insurer-feed", help="the insurer's batch")] = False,
    samu: Annotated[bool, typer.Option("--samu", help="with --rpps: as the SAMU regulating doctor")] = False,
    ttl: int = 12 * 3600,
) -> None:
    """Print a development bearer token (dev mode only), nothing else."""
    from dataclasses import replace

    from opendmp.auth.tokens import issue_token
    from opendmp.identity.actor import Actor

    s = settings()
    if not s.dev_mode:
        raise fail("dev-token works only in dev mode (OPENDMP_DEV_MODE=true, never in production)")
    chosen = [x for x in (rpps, ins, operator, agent) if x] + ([True] if insurer_feed else [])
    if len(chosen) != 1:
        raise fail("give exactly one of --rpps, --ins, --operator, --agent, --insurer-feed", 2)
    with runtime_scope(s) as runtime, domain_errors():
        if rpps:
            actor = _professional_actor(runtime, rpps)
            if samu:
                actor = replace(actor, samu_regulator=True)
        elif ins:
            actor = Actor.patient(_ins_of(runtime, ins))
        elif operator:
            actor = Actor.operator(operator)
        elif agent:
            actor = Actor.counter_agent(agent, finess)
        else:
            actor = Actor.insurer_feed()
        out.print(issue_token(runtime.keys, actor, dev=True, ttl=ttl), highlight=False)


def _professional_actor(runtime: Any, rpps: str) -> Any:
    from sqlalchemy import select

    from opendmp.identity.actor import Actor
    from opendmp.identity.models import Organisation, Professional, ProfessionalActivity

    with runtime.sessions() as session:
        professional = session.execute(select(Professional).where(Professional.rpps == rpps)).scalar_one_or_none()
        if professional is None:
            raise fail(f"no professional with RPPS {rpps} in the directory (opendmp professional add)", 4)
        finess = session.execute(
            select(Organisation.finess)
            .join(ProfessionalActivity, ProfessionalActivity.organisation_id == Organisation.id)
            .where(ProfessionalActivity.professional_id == professional.id)
            .order_by(Organisation.finess)
            .limit(1)
        ).scalar_one_or_none()
        return Actor.professional(
            rpps, professional.profession, finess, display_name=f"{professional.given} {professional.family}"
        )


def _ins_of(runtime: Any, text: str) -> Any:
    from opendmp.identity.ins import Ins, InsSystem, parse_ins, validate_nir

    if "|" in text:
        system, _, value = text.partition("|")
        return parse_ins(system, value)
    nir = validate_nir(text, field="--ins")
    from sqlalchemy import select

    from opendmp.identity.models import InsLookup

    with runtime.sessions() as session:
        system_value = session.execute(
            select(InsLookup.ins_system).where(InsLookup.ins_value == nir).limit(1)
        ).scalar_one_or_none()
    return Ins(InsSystem(system_value) if system_value else InsSystem.DEMO_NIR, nir)


# ---------------------------------------------------------------- software clients

client_app = typer.Typer(
    no_args_is_help=True, help="Software clients: OAuth2 client credentials with private_key_jwt (RFC 7523)."
)
app.add_typer(client_app, name="client")


@client_app.command("add")
def client_add(
    finess: Annotated[str, typer.Option(help="the organisation the software belongs to (must exist)")],
    name: Annotated[str, typer.Option(help="the software's name, as journals show it")],
    jwks: Annotated[Path, typer.Option(help="a JSON file with the client's public keys (JWK Set)")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="dmp:creation, dmp:alimentation or dmp:consultation; repeatable")
    ],
) -> None:
    """Register a client; prints its client id (the iss and sub of its assertions)."""
    from opendmp.auth import clients
    from opendmp.kit.db import unit_of_work

    try:
        text = jwks.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"cannot read {jwks}: {getattr(error, 'strerror', None) or 'not UTF-8'}", 2) from error
    scopes = frozenset(word for value in scope for word in value.split())
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        client = clients.add_client(
            session, operator_actor(), clients.ClientIn(finess, name, scopes, text), runtime.clock.now()
        )
    out.print(str(client.id), highlight=False)
    err.print(f"client {escape(client.name)} registered for {client.finess}: {' '.join(sorted(client.scopes))}")


@client_app.command("list")
def client_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every client: id, organisation, status, scopes, name."""
    from opendmp.auth import clients
    from opendmp.kit.db import unit_of_work

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        found = clients.list_clients(session, operator_actor(), runtime.clock.now())
    if as_json:
        rows = [
            {
                "id": str(c.id),
                "finess": c.finess,
                "name": c.name,
                "scopes": sorted(c.scopes),
                "status": c.status,
                "key_ids": list(c.key_ids),
                "created_at": c.created_at.isoformat(),
                "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
            }
            for c in found
        ]
        out.print(json.dumps(rows, ensure_ascii=False), highlight=False, markup=False)
        return
    for c in found:
        out.print(f"{c.id}  {c.finess}  {c.status:<7}  {' '.join(sorted(c.scopes))}  {c.name}", markup=False)


@client_app.command("revoke")
def client_revoke(client_id: Annotated[str, typer.Argument(help="the client id")]) -> None:
    """Revoke a client at once: its tokens already issued are refused on their next use."""
    from opendmp.auth import clients
    from opendmp.kit.db import unit_of_work

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        client = clients.revoke_client(session, operator_actor(), client_id, runtime.clock.now())
    err.print(f"client {client.id} revoked")


# ---------------------------------------------------------------- staff accounts (OpenID Connect)


operator_app = typer.Typer(
    no_args_is_help=True, help="Counter agents' and operators' accounts: who the identity provider's sub is."
)
app.add_typer(operator_app, name="operator")


@operator_app.command("add")
def operator_add(
    name: Annotated[str, typer.Argument(help="the account's name, as journals show it")],
    subject: Annotated[str, typer.Option(help="the identity provider's `sub` for this person")],
    role: Annotated[str, typer.Option(help="operator or counter-agent")] = "operator",
    finess: Annotated[str | None, typer.Option(help="a counter agent's office (must exist)")] = None,
    issuer: Annotated[str | None, typer.Option(help="default: the staff provider (or the only one)")] = None,
) -> None:
    """Create an operator's or counter agent's account, logging in through OpenID Connect."""
    from opendmp.auth import staff
    from opendmp.auth.staff_models import StaffRole
    from opendmp.kit.db import unit_of_work

    try:
        chosen = StaffRole(role)
    except ValueError as error:
        raise fail("--role is operator or counter-agent", 2) from error
    s = settings()
    issuer = issuer or s.oidc_staff_issuer or s.oidc_issuer or ""
    with runtime_scope(s) as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        account = staff.add_staff(
            session, operator_actor(), staff.StaffIn(name, subject, issuer, chosen, finess), runtime.clock.now()
        )
    out.print(str(account.id), highlight=False)
    err.print(f"{account.role} {escape(account.name)} added (sub {escape(account.subject)} at {account.issuer})")


@operator_app.command("list")
def operator_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every account: name, role, status, office, provider and subject."""
    from opendmp.auth import staff
    from opendmp.kit.db import unit_of_work

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        found = staff.list_staff(session, operator_actor(), runtime.clock.now())
    if as_json:
        rows = [
            {
                "id": str(a.id),
                "name": a.name,
                "role": a.role,
                "status": a.status,
                "finess": a.organisation,
                "issuer": a.issuer,
                "subject": a.subject,
                "created_at": a.created_at.isoformat(),
                "disabled_at": a.disabled_at.isoformat() if a.disabled_at else None,
            }
            for a in found
        ]
        out.print(json.dumps(rows, ensure_ascii=False), highlight=False, markup=False)
        return
    for a in found:
        office = a.organisation or "-"
        out.print(f"{a.name}  {a.role:<13}  {a.status:<8}  {office:<9}  {a.issuer}  {a.subject}", markup=False)


@operator_app.command("disable")
def operator_disable(name: Annotated[str, typer.Argument(help="the account's name")]) -> None:
    """Disable an account at once: its open sessions end, its logins are refused."""
    from opendmp.auth import staff
    from opendmp.kit.db import unit_of_work

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        account, ended = staff.disable_staff(session, operator_actor(), name, runtime.clock.now())
    err.print(f"{escape(account.name)} disabled; {ended} session(s) ended")


# ---------------------------------------------------------------- directory


@professional_app.command("add")
def professional_add(
    rpps: Annotated[str, typer.Option(help="11-digit RPPS number")],
    profession: Annotated[str, typer.Option(help="TRE_G15 profession code (10 doctor, 21 pharmacist, 60 nurse…)")],
    family: Annotated[str, typer.Option()],
    given: Annotated[str, typer.Option()],
    specialty: Annotated[str | None, typer.Option()] = None,
    finess: Annotated[str | None, typer.Option(help="the organisation where they work (must exist)")] = None,
) -> None:
    """Add or update a professional of the directory."""
    from opendmp.identity import service as identity

    with runtime_scope() as runtime, domain_errors():
        from opendmp.kit.db import unit_of_work

        with unit_of_work(runtime.sessions) as session:
            identity.add_professional(
                session,
                operator_actor(),
                identity.ProfessionalIn(
                    rpps=rpps, profession=profession, family=family, given=given, specialty=specialty, finess=finess
                ),
                runtime.clock.now(),
            )
    err.print(f"professional {rpps} saved")


@organisation_app.command("add")
def organisation_add(
    finess: Annotated[str, typer.Option(help="9-character FINESS")],
    name: Annotated[str, typer.Option()],
    kind: Annotated[
        str,
        typer.Option(
            help="university-hospital, hospital, clinic, ehpad, pharmacy, health-centre, laboratory, insurer-office"
        ),
    ],
    department: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add or update an organisation of the directory."""
    from opendmp.identity import service as identity
    from opendmp.kit.db import unit_of_work

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        identity.add_organisation(
            session,
            operator_actor(),
            identity.OrganisationIn(finess=finess, name=name, kind=kind, department=department),
            runtime.clock.now(),
        )
    err.print(f"organisation {finess} saved")


def _advance(bar: Progress, task: Any) -> Any:
    return lambda done: bar.update(task, completed=done)


@directory_app.command("import")
def directory_import(files: Annotated[list[Path], typer.Argument(help="FINESS and/or RPPS extracts")]) -> None:
    """Load the public directory extracts (FINESS establishments first, then RPPS), idempotently."""
    from opendmp.identity import directory
    from opendmp.kit.db import unit_of_work

    missing = [f for f in files if not f.is_file()]
    if missing:
        raise fail(f"no such file: {missing[0]}", 2)
    kinds = {f: directory.detect_kind(f) for f in files}
    ordered = sorted(files, key=lambda f: 0 if kinds[f] == "finess" else 1)
    with runtime_scope() as runtime, domain_errors(), progress() as bar:
        for path in ordered:
            task = bar.add_task(f"{kinds[path]} {path.name}", total=path.stat().st_size)
            importer = directory.import_finess if kinds[path] == "finess" else directory.import_rpps
            with unit_of_work(runtime.sessions) as session:
                report = importer(session, path, on_progress=_advance(bar, task))
            bar.update(task, completed=path.stat().st_size)
            err.print(
                f"{path.name}: {report.created} created, {report.updated} updated, "
                f"{report.unchanged} unchanged, {report.rejected_count} rejected"
            )
            for line, reason in report.rejected[:20]:
                err.print(f"  line {line}: {reason}", highlight=False)


# ---------------------------------------------------------------- records


def _record_id(text: str) -> uuid.UUID:
    from opendmp.kit.ids import parse_id

    value = parse_id(text)
    if value is None:
        raise fail(f"not a record id: {text}", 2)
    return value


def _print_record(view: Any, as_json: bool) -> None:
    from opendmp.fhir.patient import to_fhir

    if as_json:
        out.print(json.dumps(to_fhir(view), ensure_ascii=False), highlight=False)
    else:
        r = view.record
        out.print(
            f"{r.id} {r.status} channel={r.channel} opened={r.opened_at:%Y-%m-%d} version={r.version}", highlight=False
        )


@record_app.command("open")
def record_open(
    nir: Annotated[str, typer.Option("--ins", help="15-character NIR or NIA")],
    family: Annotated[str, typer.Option(help="birth name")],
    given: Annotated[str, typer.Option(help="birth given names, space-separated")],
    birth_date: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    gender: Annotated[str, typer.Option(help="male or female")],
    birthplace: Annotated[str, typer.Option(help="INSEE code of the birthplace")],
    system: Annotated[str, typer.Option(help="nir, nia, test or demo")] = "demo",
    department: Annotated[str | None, typer.Option(help="department of residence")] = None,
    rpps: Annotated[str | None, typer.Option(help="open as this professional, patient present")] = None,
    agent: Annotated[str | None, typer.Option(help="open as this insurer counter agent")] = None,
    finess: Annotated[str | None, typer.Option(help="the agent's office")] = None,
    automatic: Annotated[bool, typer.Option(help="open as the insurer's batch (opt-out)")] = False,
    consent_date: Annotated[str | None, typer.Option(help="ISO date-time; default now")] = None,
    letter: Annotated[
        Path | None, typer.Option(help="write the holder's credentials letter (PDF) to this file")
    ] = None,
    email: Annotated[str | None, typer.Option(help="the person's email, checked with them: gets the code")] = None,
    phone: Annotated[str | None, typer.Option(help="the person's mobile, checked with them: gets the code")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Open a record for a person, on behalf of the opener who collected the consent."""
    from opendmp.auth import letters
    from opendmp.auth.hashing import AuthSecrets
    from opendmp.identity.actor import Actor
    from opendmp.identity.ins import Gender, Ins, StrictTraits, validate_birthplace, validate_nir
    from opendmp.kit.db import unit_of_work
    from opendmp.notify.models import ChannelKind
    from opendmp.record import service as records

    if sum(bool(x) for x in (rpps, agent, automatic)) != 1:
        raise fail("say who opens: one of --rpps, --agent, --automatic", 2)
    with runtime_scope() as runtime, domain_errors():
        now = runtime.clock.now()
        actor = (
            _professional_actor(runtime, rpps)
            if rpps
            else Actor.counter_agent(agent, finess)
            if agent
            else Actor.insurer_feed()
        )
        try:
            born = date.fromisoformat(birth_date)
            sex = Gender(gender)
            consent = datetime.fromisoformat(consent_date) if consent_date else now
        except ValueError as error:
            raise fail(f"invalid value: {error}", 2) from error
        request = records.OpeningRequest(
            ins=Ins(_system(system), validate_nir(nir, field="--ins")),
            traits=StrictTraits(family, given, born, sex, validate_birthplace(birthplace, field="--birthplace")),
            consent_at=consent if consent.tzinfo else consent.replace(tzinfo=UTC),
            consent_method="oral",
            residence_department=department,
            contacts=tuple(
                (channel, address)
                for channel, address in ((ChannelKind.EMAIL, email), (ChannelKind.SMS, phone))
                if address
            ),
        )
        if letter is not None and actor.kind not in letters.LETTER_OPENERS:
            raise fail("--letter: only an opener facing the patient (--rpps, --agent) prints a letter", 2)
        secrets = AuthSecrets.from_master_key(runtime.keys.master_key)
        with unit_of_work(runtime.sessions) as session:
            view = records.open_record(
                session, actor, request, now, policy=runtime.settings.opening_policy, secrets=secrets
            )
            from opendmp.feed import service as reimbursements

            reimbursements.attach_at_opening(session, runtime.vault.keys, view.record.id, view.patient.ins_value, now)
            if letter is not None and view.credentials is not None:
                # Written before the commit: a letter that cannot be written undoes the opening.
                name = f"{view.patient.given_names} {view.patient.birth_family}"
                url = letters.activation_url(runtime.settings.public_base_url)
                try:
                    letter.write_bytes(letters.render(view.credentials, name, url))
                except OSError as error:
                    raise fail(f"cannot write the letter: {error.strerror}", 1) from error
            _print_record(view, as_json)


def _lifecycle(record_id: str, step: str, as_json: bool, **kw: Any) -> None:
    from opendmp.kit.db import unit_of_work
    from opendmp.record import service as records
    from opendmp.record.models import CloseReason

    rid = _record_id(record_id)
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        now, actor = runtime.clock.now(), operator_actor()
        if step == "close":
            view = records.close_record(session, actor, rid, now, CloseReason.OPERATOR)
        elif step == "reopen":
            view = records.reopen_record(session, actor, rid, now)
        elif step == "suspend":
            view = records.suspend_record(session, actor, rid, kw["reason"], now)
        elif step == "death":
            view = records.declare_death(session, actor, rid, kw["died_on"], now)
        else:
            records.purge_record(session, actor, rid, now)
            session.commit()
            from opendmp.jobs import shred

            shred(runtime.job_context(), rid, now)
            err.print(f"record {rid} purged, its content shredded")
            return
        _print_record(view, as_json)


@record_app.command("close")
def record_close(record_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Close a record (archived ten years, then purged)."""
    _lifecycle(record_id, "close", as_json)


@record_app.command("reopen")
def record_reopen(record_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Reopen a closed, objected or suspended record."""
    _lifecycle(record_id, "reopen", as_json)


@record_app.command("suspend")
def record_suspend(
    record_id: str, reason: Annotated[str, typer.Option()], as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Suspend a record (insurer, for fraud)."""
    _lifecycle(record_id, "suspend", as_json, reason=reason)


@record_app.command("purge")
def record_purge(record_id: str) -> None:
    """Purge a record whose retention is over, or that was objected to or asked to be deleted."""
    _lifecycle(record_id, "purge", False)


@record_app.command("death")
def record_death(record_id: str, died_on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")]) -> None:
    """Record the holder's death (the record closes; heirs may then ask for access)."""
    try:
        day = date.fromisoformat(died_on)
    except ValueError as error:
        raise fail("--date must be YYYY-MM-DD", 2) from error
    _lifecycle(record_id, "death", False, died_on=day)


@record_app.command("identity")
def record_identity(
    record_id: str,
    nir: Annotated[str | None, typer.Option("--ins", help="the new NIR (e.g. replacing an NIA)")] = None,
    system: Annotated[str, typer.Option(help="nir, nia, test or demo")] = "nir",
    family: Annotated[str | None, typer.Option(help="corrected birth name")] = None,
    given: Annotated[str | None, typer.Option(help="corrected birth given names")] = None,
    birth_date: Annotated[str | None, typer.Option(help="corrected birth date YYYY-MM-DD")] = None,
    gender: Annotated[str | None, typer.Option(help="corrected sex: male or female")] = None,
    birthplace: Annotated[str | None, typer.Option(help="corrected INSEE birthplace code")] = None,
    department: Annotated[str | None, typer.Option(help="new department of residence")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Correct a holder's identity (journaled): a NIR replacing an NIA, corrected strict traits."""
    from opendmp.identity.ins import Gender, Ins, StrictTraits, validate_birthplace, validate_nir
    from opendmp.kit.db import unit_of_work
    from opendmp.record import repository
    from opendmp.record import service as records

    rid = _record_id(record_id)
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        new_ins = Ins(_system(system), validate_nir(nir, field="--ins")) if nir else None
        traits = None
        if any(x is not None for x in (family, given, birth_date, gender, birthplace)):
            current = repository.get_patient(session, rid)
            if current is None:
                raise fail("no such record", 4)
            try:
                traits = StrictTraits(
                    family or current.birth_family,
                    given or current.given_names,
                    date.fromisoformat(birth_date) if birth_date else current.birth_date,
                    Gender(gender or current.gender),
                    validate_birthplace(birthplace, field="--birthplace") if birthplace else current.birthplace_code,
                )
            except ValueError as error:
                raise fail(f"invalid value: {error}", 2) from error
        change = records.IdentityChange(new_ins=new_ins, traits=traits, residence_department=department)
        view = records.update_identity(session, operator_actor(), rid, change, runtime.clock.now())
        _print_record(view, as_json)


@record_app.command("merge")
def record_merge(survivor: str, duplicate: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Merge two records of one person: everything of DUPLICATE moves to SURVIVOR."""
    from opendmp.kit.db import unit_of_work
    from opendmp.record import service as records

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        view = records.merge_records(
            session,
            operator_actor(),
            _record_id(survivor),
            _record_id(duplicate),
            runtime.clock.now(),
            runtime.vault,
        )
        _print_record(view, as_json)


def _system(name: str) -> Any:
    from opendmp.identity.ins import InsSystem

    systems = {"nir": InsSystem.NIR, "nia": InsSystem.NIA, "test": InsSystem.TEST_NIR, "demo": InsSystem.DEMO_NIR}
    if name not in systems:
        raise fail("--system is one of nir, nia, test, demo", 2)
    return systems[name]


@record_app.command("heir-request")
def record_heir_request(
    record_id: str,
    name: Annotated[str, typer.Option(help="the heir's full name")],
    relationship: Annotated[str, typer.Option(help="child, spouse, parent…")],
    reason: Annotated[str, typer.Option(help="why access is asked (CSP L1110-4)")] = "",
) -> None:
    """Record an heir's request for access to a deceased holder's record, for review."""
    from opendmp.kit.db import unit_of_work
    from opendmp.record import service as records

    rid = _record_id(record_id)
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        request_id = records.record_heir_request(
            session, operator_actor(), rid, name, relationship, reason, runtime.clock.now()
        )
    out.print(str(request_id), highlight=False)


@ledger_app.command("held")
def ledger_held() -> None:
    """List the ledger entries held because the opener's pharmacy was unknown."""
    from opendmp.kit.db import unit_of_work
    from opendmp.stats import service as stats

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        for entry in stats.held_entries(session, operator_actor(), runtime.clock.now()):
            out.print(
                f"{entry.id} {entry.earned_on} {entry.amount_cents / 100:.2f} EUR record={entry.record_id}",
                highlight=False,
            )


@ledger_app.command("assign")
def ledger_assign(entry_id: str, finess: Annotated[str, typer.Option(help="the pharmacy to pay")]) -> None:
    """Assign a held ledger entry to a pharmacy of the directory."""
    from opendmp.kit.db import unit_of_work
    from opendmp.stats import service as stats

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        stats.assign_pharmacy(session, operator_actor(), _record_id(entry_id), finess, runtime.clock.now())
    err.print(f"entry {entry_id} assigned to {finess}")


# ---------------------------------------------------------------- statistics


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise fail(f"{option}: a date YYYY-MM-DD is expected, not {text!r}", 2) from error


@app.command("stats")
def stats_show(
    since: Annotated[str | None, typer.Option("--since", help="first day, YYYY-MM-DD (included)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="last day, YYYY-MM-DD (included)")] = None,
    by: Annotated[str, typer.Option("--by", help="channel, region or week")] = "channel",
    as_json: Annotated[bool, typer.Option("--json", help="only JSON on standard output")] = False,
) -> None:
    """Records opened (by channel, region or week) and documents added by source, from the counters."""
    from opendmp.kit.db import unit_of_work
    from opendmp.stats.figures import Breakdown, deployment_figures

    if by not in {b.value for b in Breakdown}:
        raise fail(f"--by: channel, region or week, not {by!r}", 2)
    first, last = _day(since, "--since"), _day(until, "--until")
    from opendmp.stats.dashboard import dashboard_figures

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        figures = deployment_figures(
            session, operator_actor(), runtime.clock.now(), since=first, until=last, by=Breakdown(by)
        )
        # The dashboard's figures (whole deployment, not limited to --since/--until).
        deployment = dashboard_figures(
            session, operator_actor(), runtime.clock.now(), target=runtime.settings.stats_target
        )
    if as_json:
        document = {**figures.as_json(), "deployment": deployment}
        typer.echo(json.dumps(document, ensure_ascii=False))  # one line, never wrapped
        return
    _print_deployment(deployment)
    from rich.table import Table

    period = f"{first or '…'} → {last or '…'}"
    opened = Table(title=f"DMP ouverts / records opened ({period}): {figures.records_opened:,}".replace(",", "\u202f"))
    opened.add_column({"channel": "canal / channel", "region": "région / region", "week": "semaine / week"}[by])
    opened.add_column("ouverts / opened", justify="right")
    opened.add_column("part / share", justify="right")
    for _key, label, count in figures.opened_by:
        share = f"{100 * count / figures.records_opened:.1f} %" if figures.records_opened else "–"
        opened.add_row(label or "inconnu / unknown", f"{count:,}".replace(",", "\u202f"), share)
    documents = Table(title=f"Documents ajoutés / documents added: {figures.documents_added:,}".replace(",", "\u202f"))
    documents.add_column("source")
    documents.add_column("documents", justify="right")
    for source, count in figures.documents_by_source.items():
        documents.add_row(source, f"{count:,}".replace(",", "\u202f"))
    out.print(opened)
    out.print(documents)


def _print_deployment(d: dict[str, Any]) -> None:
    """The dashboard's headline figures, as the operators' dashboard shows them."""
    from opendmp.stats.dashboard import format_fr

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f}".replace(".", ",") + " %"

    projection = d["projection"]["reachedOn"] or "–"
    users = d["weeklyActiveUsers"]
    lines = [
        d["headline"],
        f"Cible / target {format_fr(d['target'])} : {pct(d['targetShare'])}, "
        f"atteinte le / reached on {projection} "
        f"(rythme / pace {format_fr(round(d['projection']['pacePerWeek']))}/sem.)",
        f"Taux d'activation / activation rate : {pct(d['activation']['rate'])} "
        f"({format_fr(d['activation']['activated'])})",
        f"Vides après 30 jours / empty after 30 days : {format_fr(d['emptyAfter30Days']['empty'])} "
        f"({pct(d['emptyAfter30Days']['share'])})",
        f"Établissements alimentant / feeding establishments : {d['feedingEstablishments']['establishments']} "
        f"(CHU {d['feedingEstablishments']['universityHospitals']})",
        f"Pharmacies / nurses équipées : {format_fr(d['openers']['pharmacies'])} / {format_fr(d['openers']['nurses'])}",
        f"Utilisateurs actifs / weekly active users : {format_fr(users[-1]['users']) if users else 0}",
    ]
    for line in lines:
        out.print(line, highlight=False, markup=False)


# ---------------------------------------------------------------- access rules and emergencies

matrix_app = typer.Typer(
    no_args_is_help=True, help="The habilitation matrix: which document classes each profession reads."
)
emergency_app = typer.Typer(no_args_is_help=True, help="Emergency accesses (bris de glace, SAMU): the review queue.")
app.add_typer(matrix_app, name="matrix")
app.add_typer(emergency_app, name="emergency")


@matrix_app.command("export")
def matrix_export(
    path: Annotated[Path | None, typer.Argument(help="CSV file to write (standard output when omitted)")] = None,
    version: Annotated[int | None, typer.Option(help="an earlier version (default: the current one)")] = None,
) -> None:
    """Write the matrix as CSV: one row per profession (TRE_G15), one 0/1 column per class code."""
    from opendmp.consent import service as consents
    from opendmp.kit.db import unit_of_work

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        matrix = consents.export_matrix(session, operator_actor(), runtime.clock.now(), version)
    if not matrix.allowed and version is not None:
        raise fail(f"no matrix version {version}", 4)
    if path is None:
        out.print(matrix.to_csv(), end="", highlight=False, markup=False)
    else:
        path.write_text(matrix.to_csv(), encoding="utf-8")
        err.print(f"matrix version {matrix.version} written to {path}")


@matrix_app.command("import")
def matrix_import(
    path: Annotated[Path, typer.Argument(help="CSV file in the export's format")],
    note: Annotated[str | None, typer.Option(help="why this version (kept with it)")] = None,
) -> None:
    """Store the file as the next version; it applies from the next request on."""
    from opendmp.consent import service as consents
    from opendmp.kit.db import unit_of_work

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise fail(f"cannot read {path}: {error.strerror}") from error
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        version = consents.import_matrix(session, operator_actor(), text, runtime.clock.now(), note)
    err.print(f"matrix version {version} imported from {path}")


@matrix_app.command("versions")
def matrix_versions() -> None:
    """List the versions: number, date, author, note."""
    from opendmp.access import repository as matrix_repo
    from opendmp.kit.db import unit_of_work

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        for v in matrix_repo.versions(session):
            out.print(f"{v.version}  {v.created_at:%Y-%m-%d %H:%M}  {v.created_by}  {v.note or ''}", highlight=False)


@emergency_app.command("review")
def emergency_review(
    justified: Annotated[str | None, typer.Option(help="mark this emergency access as justified")] = None,
    unjustified: Annotated[str | None, typer.Option(help="mark this emergency access as unjustified")] = None,
    note: Annotated[str | None, typer.Option(help="the reviewer's note")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the emergency accesses awaiting review, or close one with --justified/--unjustified ID."""
    import json

    from opendmp.consent import service as consents
    from opendmp.kit.db import unit_of_work

    if justified and unjustified:
        raise fail("give --justified or --unjustified, not both", 2)
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        now = runtime.clock.now()
        if justified or unjustified:
            target = _record_id(justified or unjustified or "")
            entry = consents.review(session, operator_actor(), target, now, justified=bool(justified), note=note)
            err.print(f"emergency access {entry.id} reviewed: {entry.review_outcome}")
            return
        pending = consents.pending_reviews(session, operator_actor(), now)
        rows = [
            {
                "id": str(e.id),
                "record": str(e.record_id),
                "rpps": e.rpps,
                "mode": e.mode,
                "reason": e.reason,
                "started": e.started_at.isoformat(),
                "expires": e.expires_at.isoformat(),
            }
            for e in pending
        ]
    if as_json:
        out.print(json.dumps(rows, ensure_ascii=False), highlight=False, markup=False)
        return
    if not rows:
        err.print("no emergency access awaits review")
    for row in rows:
        out.print(
            f"{row['id']}  {row['started'][:16]}  RPPS {row['rpps']}  {row['mode']}  "
            f"record={row['record']}  {row['reason']}",
            highlight=False,
            markup=False,
        )


# ---------------------------------------------------------------- notifications

notify_app = typer.Typer(no_args_is_help=True, help="Notifications: contacts, the outbox worker, failures.")
contact_app = typer.Typer(no_args_is_help=True, help="Where people are reached.")
notify_app.add_typer(contact_app, name="contact")
app.add_typer(notify_app, name="notify")


def _notify_id(text: str, what: str) -> uuid.UUID:
    from opendmp.kit.ids import parse_id

    value = parse_id(text)
    if value is None:
        raise fail(f"not a {what} id: {text}", 2)
    return value


@notify_app.command("send")
def notify_send(
    loop: Annotated[bool, typer.Option("--loop", help="keep sending until interrupted")] = False,
    interval: Annotated[float, typer.Option(help="seconds between passes with --loop")] = 5.0,
) -> None:
    """Send the outbox's due messages (email, SMS) now; with --loop, keep doing it."""
    import time

    from opendmp.notify import worker
    from opendmp.notify.senders import make_senders

    with runtime_scope() as runtime, domain_errors():
        delivery = worker.Delivery.from_settings(runtime.settings)
        try:
            while True:
                report = worker.send_due(runtime.sessions, make_senders(runtime.settings), runtime.clock, delivery)
                if report.sent or report.retried or report.failed or not loop:
                    err.print(
                        f"notifications: {report.sent} sent, {report.retried} to retry, {report.failed} failed"
                        + (f", {report.lost} sent after losing their lease" if report.lost else "")
                    )
                if not loop:
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            err.print("stopped")


@contact_app.command("set")
def notify_contact_set(
    record_id: str,
    email: Annotated[str | None, typer.Option(help="email address")] = None,
    phone: Annotated[str | None, typer.Option(help="mobile number (06…, or +33…)")] = None,
    representative: Annotated[str | None, typer.Option(help="a legal representative's id, not the holder")] = None,
    unverified: Annotated[
        bool, typer.Option("--unverified", help="not checked with the person: receives nothing until verified")
    ] = False,
) -> None:
    """Set the holder's (or a legal representative's) email and/or mobile number."""
    from opendmp.kit.db import unit_of_work
    from opendmp.notify import service as notifications
    from opendmp.notify.models import ChannelKind

    if email is None and phone is None:
        raise fail("give --email, --phone or both", 2)
    rid = _record_id(record_id)
    rep = _notify_id(representative, "representative") if representative else None
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        now, actor = runtime.clock.now(), operator_actor()
        for channel, value in ((ChannelKind.EMAIL, email), (ChannelKind.SMS, phone)):
            if value is not None:
                notifications.set_contact(
                    session, actor, rid, channel, value, now, verified=not unverified, representative_id=rep
                )
    err.print(f"contact points of {rid} updated")


@contact_app.command("list")
def notify_contact_list(record_id: str) -> None:
    """List a record's contact points (addresses masked)."""
    from opendmp.notify import service as notifications

    rid = _record_id(record_id)
    with runtime_scope() as runtime, domain_errors(), runtime.sessions() as session:
        for contact in notifications.contacts_of(session, rid):
            verified = f"verified {contact.verified_at:%Y-%m-%d}" if contact.verified_at else "unverified"
            out.print(
                f"{contact.person} {contact.channel} {notifications.mask_address(contact.address)} {verified}",
                highlight=False,
            )


@contact_app.command("professional")
def notify_contact_professional(
    rpps: str, email: Annotated[str, typer.Option(help="secure messaging (MSSanté) address")]
) -> None:
    """Set a professional's secure messaging address (e.g. the médecin traitant's)."""
    from opendmp.kit.db import unit_of_work
    from opendmp.notify import service as notifications

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        notifications.set_professional_contact(session, operator_actor(), rpps, email, runtime.clock.now())
    err.print(f"secure messaging address of {rpps} set")


@notify_app.command("failed")
def notify_failed(limit: int = 100) -> None:
    """List the messages given up on (addresses masked), oldest first."""
    from opendmp.notify import service as notifications

    with runtime_scope() as runtime, domain_errors(), runtime.sessions() as session:
        failed = notifications.failed_messages(session, limit)
    for m in failed:
        out.print(
            f"{m.id} {m.created_at:%Y-%m-%d %H:%M} {m.category} {m.channel} {m.address} "
            f"attempts={m.attempts} error={m.last_error or '-'}",
            highlight=False,
        )
    err.print(f"{len(failed)} failed message(s)")


@notify_app.command("retry")
def notify_retry(message_id: str) -> None:
    """Give a failed message a fresh set of attempts (once its cause is fixed)."""
    from opendmp.kit.db import unit_of_work
    from opendmp.notify import service as notifications

    mid = _notify_id(message_id, "message")
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        notifications.retry_failed(session, mid, runtime.clock.now())
    err.print(f"message {message_id} queued again")


credentials_app = typer.Typer(no_args_is_help=True, help="Patients' credentials: the insurer's mailing.")
app.add_typer(credentials_app, name="credentials")


@credentials_app.command("letters")
def credentials_letters(
    folder: Annotated[Path, typer.Option("--out", help="the folder the PDF letters are written to")],
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many letters")] = None,
) -> None:
    """Write one credentials letter (PDF) per person whose activation code reached no one (an
    automatic or online opening without a verified contact), each with a fresh code; they are
    marked posted, so the next run writes only new ones."""
    from opendmp.auth import letters
    from opendmp.auth.hashing import AuthSecrets
    from opendmp.kit.db import unit_of_work

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise fail(f"cannot create {folder}: {error.strerror}", 1) from error
    written: list[Path] = []
    with runtime_scope() as runtime, domain_errors():
        secrets = AuthSecrets.from_master_key(runtime.keys.master_key)
        url = letters.activation_url(runtime.settings.public_base_url)
        with unit_of_work(runtime.sessions) as session:
            mailed = letters.mail_pending(session, operator_actor(), runtime.clock.now(), secrets, limit=limit)
            # Written before the commit: letters that cannot be written leave the accounts unposted.
            try:
                for one in mailed:
                    path = folder / f"{one.account_id}.pdf"
                    path.write_bytes(letters.render(one.credentials, one.holder_name, url))
                    written.append(path)
            except OSError as error:
                for path in written:
                    path.unlink(missing_ok=True)
                raise fail(f"cannot write the letters: {error.strerror}", 1) from error
    out.print(f"{len(written)} letter(s) written to {folder}")


# ---------------------------------------------------------------- jobs, audit, seed


@jobs_app.command("run")
def jobs_run(name: Annotated[str | None, typer.Argument(help="one job; all when omitted")] = None) -> None:
    """Run the timed rules (objection window end, purge after retention, majority) now."""
    from opendmp.jobs import JOBS, run_jobs

    if name is not None and name not in JOBS:
        raise fail(f"unknown job {name!r}; jobs: {', '.join(JOBS)}", 2)
    with runtime_scope() as runtime, domain_errors(), progress() as bar:
        tasks: dict[str, Any] = {}

        def on_progress(job: str, done: int, total: int) -> None:
            if job not in tasks:
                tasks[job] = bar.add_task(job, total=total)
            bar.update(tasks[job], completed=done)

        results = run_jobs(runtime.job_context(on_progress), runtime.clock.now(), [name] if name else None)
    for result in results:
        err.print(f"{result.name}: {result.done} done, {result.failed} failed")
    if any(r.failed for r in results):
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(
    content: Annotated[
        bool, typer.Option("--content", help="also decrypt every document and check its SHA-256")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="processes checking ranges of chains (default: the CPUs this may use)")
    ] = None,
) -> None:
    """Check every journal chain (numbering, links, payload and entry hashes, heads), every signed
    checkpoint, and that each head a checkpoint sealed is still in its chain unchanged; with
    --content, every stored document against the SHA-256 recorded when it was filed. Names the
    first broken entry by chain and position, and exits 1 on any problem."""
    import os
    import time

    from opendmp.journal.checkpoint import trusted_keys
    from opendmp.journal.repository import snapshot
    from opendmp.journal.retention import retention_cutoff
    from opendmp.journal.verify import Verification

    breaks: list[str] = []
    problems = 0
    with runtime_scope() as runtime, domain_errors():
        s = runtime.settings
        try:
            keys = trusted_keys(runtime.keys.journal_signing_key, s.journal_previous_public_keys)
        except ValueError as error:
            raise fail(f"OPENDMP_JOURNAL_PREVIOUS_PUBLIC_KEYS: {error}", 2) from error
        verification = Verification(
            keys=keys, redact_before=retention_cutoff(runtime.clock.now(), s.journal_retention_years)
        )
        started = time.perf_counter()
        if workers is not None and workers < 1:
            raise fail("--workers is at least 1", 2)
        processes = workers or len(os.sched_getaffinity(0))
        with snapshot(runtime.engine) as connection:
            for problem in verification.run(connection, database_url=s.resolved_database_url, workers=processes):
                problems += 1
                if len(breaks) < 50:
                    breaks.append(str(problem))
        elapsed = time.perf_counter() - started
        checked = 0
        if content:
            from opendmp.document.verify import verify_contents

            with runtime.sessions() as session, progress() as bar:
                task = bar.add_task("documents", total=None)
                for line in verify_contents(session, runtime.vault, lambda n: bar.update(task, completed=n)):
                    problems += 1
                    if len(breaks) < 50:
                        breaks.append(line)
                checked = int(bar.tasks[0].completed)
    for line in breaks:
        err.print(line, highlight=False)
    v = verification
    err.print(
        f"journal: {v.entries:,} entries in {v.chains:,} chains ({v.redacted:,} redacted), {v.checkpoints:,} "
        f"checkpoints (last at {v.last_checkpoint_at or 'never'}), read in {elapsed:.1f} s "
        f"({v.entries / max(elapsed, 1e-9):,.0f} entries/s)",
        highlight=False,
    )
    problems += verification.unreported
    if problems:
        raise fail(f"verification failed: {problems} problem(s); first: {breaks[0]}", 1)
    documents = f"; {checked} documents intact" if content else ""
    err.print(f"journal verified: every chain and checkpoint intact{documents}")


def _moment(text: str | None, option: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO date or date-time (UTC when no offset); a date as --until means through that day."""
    if text is None:
        return None
    from datetime import timedelta

    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise fail(f"{option} is a date (YYYY-MM-DD) or an ISO date-time", 2) from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@audit_app.command("by-actor")
def audit_by_actor(
    actor_id: Annotated[str, typer.Argument(help="RPPS, NIR, account, client or job name, as journaled")],
    since: Annotated[str | None, typer.Option(help="from this date or date-time (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="up to this date (included) or date-time")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array on standard output")] = False,
) -> None:
    """Everything one actor did, across records: operators' forensics (the only journal query that
    crosses records). The search itself is journaled on the system chain."""
    from opendmp.journal import reading
    from opendmp.journal.service import iso
    from opendmp.kit.db import unit_of_work

    start, end = _moment(since, "--since"), _moment(until, "--until", end_of_day=True)
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        found = reading.entries_by_actor(session, operator_actor(), actor_id, start, end, runtime.clock.now())
        rows = [
            {
                "at": iso(e.at),
                "chain": e.chain,
                "seq": e.seq,
                "actor_kind": e.actor_kind,
                "actor_id": e.actor_id,
                "actor_organisation": e.actor_organisation,
                "action": e.action,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "outcome": e.outcome,
                "reason": e.reason,
                "purpose": e.purpose,
                "source_address": e.source_address,
            }
            for e in found
        ]
    if as_json:
        out.print(json.dumps(rows, ensure_ascii=False), highlight=False, markup=False)
    else:
        for r in rows:
            target = f"{r['target_type']}:{r['target_id']}" if r["target_id"] else r["target_type"]
            extra = " ".join(f"{k}={r[k]}" for k in ("reason", "purpose", "source_address") if r[k])
            line = f"{r['at']} {r['chain']}#{r['seq']} {r['action']} {target} {r['outcome']} {extra}"
            out.print(line.rstrip(), markup=False)
    err.print(f"{len(rows)} journal entries by {actor_id}")


@audit_app.command("public-key")
def audit_public_key() -> None:
    """Print the journal's public key (PEM) and its key id, for auditors who check checkpoints."""
    from cryptography.hazmat.primitives import serialization

    from opendmp.journal.checkpoint import key_id

    with runtime_scope() as runtime:
        public = runtime.keys.journal_signing_key.public_key()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    out.print(pem.decode("ascii").strip(), highlight=False)
    err.print(f"key id {key_id(public)}")


keys_app = typer.Typer(no_args_is_help=True, help="Master and data keys.")
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-wrap every record's data key under the current master key (the previous ones listed in
    OPENDMP_PREVIOUS_MASTER_KEYS). Safe while the service runs."""
    with runtime_scope() as runtime, domain_errors():
        count = runtime.vault.keys.rotate(runtime.clock.now())
    err.print(f"{count} data keys re-wrapped under the current master key")


@keys_app.command("replay-ledger")
def keys_replay_ledger() -> None:
    """After restoring an older key-store backup: destroy again every key of a purged record."""
    from sqlalchemy import select

    from opendmp.document.keystore import LedgerEntry
    from opendmp.record.models import Record, RecordStatus

    with runtime_scope() as runtime, domain_errors(), runtime.sessions() as session:
        purged = session.execute(select(Record.id, Record.purged_at).where(Record.status == RecordStatus.PURGED)).all()
        entries = [LedgerEntry(record_id, at, "record purged") for record_id, at in purged]
        count = runtime.vault.keys.replay_deletion_ledger([*runtime.vault.keys.export_ledger(), *entries])
    err.print(f"{count} data keys destroyed again")


@app.command()
def seed(
    patients: Annotated[int, typer.Option(help="how many records to open")] = 1000,
    seed_value: Annotated[int, typer.Option("--seed", help="same seed, same data")] = 42,
    batch: Annotated[int, typer.Option(help="records per transaction")] = 5000,
) -> None:
    """Load deterministic synthetic data: organisations, professionals, records opened over weeks."""
    import time

    from opendmp.seed import seed_platform

    if patients < 0:
        raise fail("--patients must be positive", 2)
    with runtime_scope() as runtime, domain_errors(), progress() as bar:
        task = bar.add_task("records", total=patients)
        started = time.perf_counter()
        report = seed_platform(
            runtime,
            patients=patients,
            seed=seed_value,
            batch=batch,
            on_progress=lambda n: bar.update(task, completed=n),
        )
        elapsed = time.perf_counter() - started
    err.print(
        f"{report.records} records, {report.professionals} professionals, {report.organisations} "
        f"organisations in {elapsed:.1f} s ({report.records / max(elapsed, 1e-9):,.0f} records/s)"
    )


# ---------------------------------------------------------------- establishment feeds

feed_app = typer.Typer(no_args_is_help=True, help="Feeds: establishments' documents, the insurer's reimbursements.")
app.add_typer(feed_app, name="feed")
# `feed reimbursements` and `feed generate` live beside their module (src/opendmp/feed/cli.py).
from opendmp.feed.cli import register_reimbursement_commands  # noqa: E402

register_reimbursement_commands(feed_app)


@feed_app.command("folder")
def feed_folder(
    folder: Annotated[Path, typer.Argument(help="the watched folder (ITI-65 bundles as *.json)")],
    once: Annotated[bool, typer.Option("--once", help="file what is there, then stop")] = False,
    client_id: Annotated[
        str | None, typer.Option("--client", help="the software client filing (default: the only active one)")
    ] = None,
    act_for: Annotated[
        str | None, typer.Option("--act-for", help="RPPS of the professional (default: each bundle's author)")
    ] = None,
    interval: Annotated[float, typer.Option(help="seconds between looks at the folder")] = 2.0,
) -> None:
    """File the ITI-65 bundle files dropped in FOLDER as the establishment's software client;
    each goes to done/ or failed/ with its result. --once exits non-zero if any failed."""
    import time

    from opendmp.establishment import folder as watched
    from opendmp.kit.db import unit_of_work

    if not folder.is_dir():
        raise fail(f"{folder} is not a folder", 2)
    with runtime_scope() as runtime, domain_errors():
        with unit_of_work(runtime.sessions) as session:
            client = watched.feeding_client(session, operator_actor(), client_id, runtime.clock.now())
        failed = 0

        def one_pass(files: list[Path]) -> None:
            nonlocal failed
            with progress() as bar:
                task = bar.add_task("bundles", total=len(files))

                def on_file(path: Path, result: Any) -> None:
                    nonlocal failed
                    bar.advance(task)
                    if not result.ok:
                        failed += 1
                        where = f" ({result.error.field})" if result.error and result.error.field else ""
                        message = result.error.message if result.error else "failed"
                        err.print(f"{escape(path.name)}: failed: {escape(message)}{escape(where)}", highlight=False)

                watched.file_folder(
                    runtime.sessions,
                    client,
                    folder,
                    runtime.clock.now,
                    runtime.vault,
                    max_size=runtime.settings.max_document_bytes,
                    act_for=act_for,
                    on_file=on_file,
                    files=files,
                )

        if once:
            files = watched.pending_files(folder)
            one_pass(files)
            err.print(f"{len(files) - failed} filed, {failed} failed")
            if failed:
                raise typer.Exit(1)
            return
        err.print(f"watching {folder} (Ctrl-C stops)")
        try:
            while True:
                files = watched.pending_files(folder)
                if files:
                    one_pass(files)
                time.sleep(interval)
        except KeyboardInterrupt:
            err.print(f"stopped; {failed} failed so far")


# ---------------------------------------------------------------- VSM and DLU

vsm_app = typer.Typer(no_args_is_help=True, help="The VSM (volet de synthèse médicale) of a record.")
dlu_app = typer.Typer(no_args_is_help=True, help="The DLU (dossier de liaison d'urgence) of a record.")
app.add_typer(vsm_app, name="vsm")
app.add_typer(dlu_app, name="dlu")


def _show_summary(
    kind: str, record_id: str, rpps: str | None, ins: str | None, document: str | None, as_json: bool
) -> None:
    """Read as a professional (--rpps) or the holder (--ins), in development only: the policy
    decides and the journal records the read, as for the same read through the API."""
    from opendmp.kit.db import unit_of_work
    from opendmp.summary import service as summaries

    s = settings()
    if not s.dev_mode:
        raise fail("reading a record from the command line acts as a person: development mode only", 2)
    if (rpps is None) == (ins is None):
        raise fail("give --rpps (a professional) or --ins (the holder)", 2)
    with runtime_scope(s) as runtime, domain_errors():
        from opendmp.identity.actor import Actor

        actor = _professional_actor(runtime, rpps) if rpps else Actor.patient(_ins_of(runtime, ins or ""))
        with unit_of_work(runtime.sessions) as session:
            view = summaries.read_summary(
                session,
                actor,
                _record_id(record_id),
                kind,
                runtime.clock.now(),
                runtime.vault,
                document_id=_record_id(document) if document else None,
            )
    if as_json:
        out.print(
            json.dumps({**view.copy, "document": str(view.document_id), "status": view.status}, ensure_ascii=False)
        )
        return
    form = view.copy["form"]
    out.print(
        f"{kind.upper()} version {view.version} ({view.status}), {view.written_at:%d/%m/%Y}, by RPPS {view.author_rpps}"
    )
    out.print(f"document: DocumentReference/{view.document_id}")
    for key, value in form.items():
        if isinstance(value, list):
            out.print(f"{key}:")
            for item in value:
                text = ", ".join(f"{k}={v}" for k, v in item.items()) if isinstance(item, dict) else str(item)
                out.print(f"  - {escape(text)}")
        else:
            out.print(f"{key}: {escape(str(value))}")


@vsm_app.command("show")
def vsm_show(
    record_id: Annotated[str, typer.Argument(help="the record (Patient id)")],
    rpps: Annotated[str | None, typer.Option(help="read as this professional")] = None,
    ins: Annotated[str | None, typer.Option(help="read as the holder (NIR)")] = None,
    document: Annotated[str | None, typer.Option(help="one version (DocumentReference id)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The current VSM's structured copy (development mode)."""
    _show_summary("vsm", record_id, rpps, ins, document, as_json)


@dlu_app.command("show")
def dlu_show(
    record_id: Annotated[str, typer.Argument(help="the record (Patient id)")],
    rpps: Annotated[str | None, typer.Option(help="read as this professional")] = None,
    ins: Annotated[str | None, typer.Option(help="read as the holder (NIR)")] = None,
    document: Annotated[str | None, typer.Option(help="one version (DocumentReference id)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The current DLU's structured copy (development mode)."""
    _show_summary("dlu", record_id, rpps, ins, document, as_json)


def main() -> None:
    app()


# ---------------------------------------------------------------- remuneration statements and rules

remuneration_app = typer.Typer(
    no_args_is_help=True, help="Monthly remuneration statements (pharmacies, nurses) and the rule table."
)
rules_app = typer.Typer(no_args_is_help=True, help="The remuneration rule table: amounts, payees, dates of effect.")
app.add_typer(remuneration_app, name="remuneration")
remuneration_app.add_typer(rules_app, name="rules")


@remuneration_app.command("statement")
def remuneration_statement(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    out_path: Annotated[Path, typer.Option("--out", help="file to write")],
    finess: Annotated[str | None, typer.Option("--finess", help="one pharmacy")] = None,
    rpps: Annotated[str | None, typer.Option("--rpps", help="one nurse")] = None,
    output_format: Annotated[str, typer.Option("--format", help="csv or pdf")] = "csv",
) -> None:
    """Statements of a month, for one payee or every payee with something due (from the ledger)."""
    from opendmp.access.policy import Payee
    from opendmp.kit.db import unit_of_work
    from opendmp.kit.errors import InvalidInput
    from opendmp.stats import statements

    if output_format not in ("csv", "pdf"):
        raise fail(f"--format: csv or pdf, not {output_format!r}", 2)
    if finess and rpps:
        raise fail("--finess or --rpps, not both", 2)
    try:
        first = statements.parse_month(month, field_name="--month")
    except InvalidInput as error:
        raise fail(f"--month: {error.message}", 2) from error
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        now, actor = runtime.clock.now(), operator_actor()
        if finess or rpps:
            payees = [Payee("pharmacy", finess) if finess else Payee("nurse", rpps or "")]
        else:
            payees = statements.payees_of_month(session, actor, first, now)
        made = [statements.statement_for(session, actor, payee, first, now) for payee in payees]
    data = statements.to_pdf(made) if output_format == "pdf" else statements.to_csv(made).encode("utf-8")
    out_path.write_bytes(data)
    total = sum(s.total_cents for s in made)
    err.print(f"{len(made)} statement(s), {total // 100},{total % 100:02d} EUR → {out_path}")


@rules_app.command("list")
def remuneration_rules_list(
    as_json: Annotated[bool, typer.Option("--json", help="only JSON on standard output")] = False,
) -> None:
    """The rule table."""
    from opendmp.kit.db import unit_of_work
    from opendmp.stats import statements

    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        rows: list[dict[str, Any]] = [
            {
                "id": str(r.id),
                "channel": r.channel,
                "beneficiary": r.beneficiary,
                "amountCents": r.amount_cents,
                "from": r.effective_from.isoformat(),
                "until": r.effective_until.isoformat() if r.effective_until else None,
            }
            for r in statements.list_rules(session, operator_actor(), runtime.clock.now())
        ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        amount = r["amountCents"]
        until = r["until"] or "…"
        out.print(
            f"{r['channel']:<20} {r['beneficiary']:<9} {amount / 100:>6.2f} EUR  {r['from']} → {until}  {r['id']}"
        )


@rules_app.command("set")
def remuneration_rules_set(
    channel: Annotated[str, typer.Option("--channel", help="pharmacy, nurse, …")],
    beneficiary: Annotated[str, typer.Option("--beneficiary", help="pharmacy (paid by FINESS) or nurse (by RPPS)")],
    amount: Annotated[str, typer.Option("--amount", help="euros, e.g. 1.50")],
    since: Annotated[str, typer.Option("--from", help="date of effect, YYYY-MM-DD")],
    until: Annotated[str | None, typer.Option("--until", help="last day excluded, YYYY-MM-DD")] = None,
) -> None:
    """A new amount from a date of effect; the rule in force for the same channel and payee ends then."""
    from decimal import Decimal, InvalidOperation

    from opendmp.kit.db import unit_of_work
    from opendmp.stats import statements

    try:
        cents = int((Decimal(amount.replace(",", ".")) * 100).to_integral_exact())
    except (InvalidOperation, ValueError) as error:
        raise fail(f"--amount: euros like 1.50, not {amount!r}", 2) from error
    first = _day(since, "--from")
    assert first is not None
    rule = statements.RuleIn(channel, beneficiary, cents, first, _day(until, "--until"))
    with runtime_scope() as runtime, domain_errors(), unit_of_work(runtime.sessions) as session:
        created = statements.set_rule(session, operator_actor(), rule, runtime.clock.now())
        rule_id = str(created.id)
    out.print(rule_id)


# ---------------------------------------------------------------- patient content (issue 6)
from opendmp.content.commands import content_app, directives_app, vaccination_app  # noqa: E402

app.add_typer(content_app, name="content")
app.add_typer(vaccination_app, name="vaccination")
app.add_typer(directives_app, name="directives")


# ---------------------------------------------------------------- backups


@app.command("backup")
def backup_command(
    out_path: Annotated[Path, typer.Argument(help="the encrypted backup file to write")],
    keystore: Annotated[
        bool, typer.Option("--keystore", help="back up the key store instead (its own, shorter retention)")
    ] = False,
) -> None:
    """An encrypted backup (AES-256-GCM, OPENDMP_BACKUP_KEY) of the database, or of the key store."""
    from opendmp import backup
    from opendmp.document.keystore import default_keystore_url
    from opendmp.journal import service as journal
    from opendmp.kit.db import unit_of_work
    from opendmp.kit.keys import MissingKey, load_keys

    s = settings()
    try:
        key = backup.backup_key(s, load_keys(s).master_key)
    except MissingKey as error:
        raise fail(str(error)) from error
    url = default_keystore_url(s) if keystore else s.resolved_database_url
    import subprocess

    with domain_errors():
        try:
            what = "keystore" if keystore else "database"
            now = datetime.now(UTC)
            made = backup.take_backup(url, out_path, key, what=what, now=now, scratch=backup.scratch_directory(s))
        except subprocess.CalledProcessError as error:
            raise fail(f"pg_dump failed: {error.stderr.decode(errors='replace').strip()}") from error
        # A copy of every record left the service: said on the system chain (who, what, where).
        with runtime_scope(s) as runtime, unit_of_work(runtime.sessions) as session:
            journal.append(
                session,
                operator_actor(),
                journal.Event("backup:take", what, out_path.name[:64], reason=f"kind={made.kind};bytes={made.size}"),
                record_id=None,
                at=now,
            )
    err.print(f"{made.kind} {'key store' if keystore else 'database'} backed up, {made.size:,} bytes → {out_path}")


@app.command("restore")
def restore_command(
    in_path: Annotated[Path, typer.Argument(help="the encrypted database backup")],
    keystore: Annotated[
        Path | None, typer.Option("--keystore", help="also restore the key store from this backup")
    ] = None,
    verify: Annotated[bool, typer.Option(help="check the journal and every document's hash afterwards")] = True,
) -> None:
    """Restore the database (and the key store), replay the deletion ledger, verify. Stop the
    service first; serve again only once this succeeds."""
    from opendmp import backup
    from opendmp.kit.keys import MissingKey, load_keys
    from opendmp.runtime import build_runtime

    s = settings()
    try:
        key = backup.backup_key(s, load_keys(s).master_key)
    except MissingKey as error:
        raise fail(str(error)) from error
    if not in_path.exists():
        raise fail(f"{in_path}: no such backup", 2)
    with domain_errors():
        done = backup.restore(
            s, lambda: build_runtime(s, pool_size=2), in_path, key, datetime.now(UTC), keystore_source=keystore
        )
    err.print(
        f"restored the backup of {done.taken_at}; deletion ledger replayed: "
        f"{done.records_erased_again} record(s) erased again, {done.keys_destroyed_again} key(s) destroyed again"
    )
    if verify:
        with runtime_scope(s) as runtime:
            problems = backup.verify_restored(runtime)
        for problem in problems[:50]:
            err.print(problem, highlight=False, markup=False)
        if problems:
            raise fail(f"{len(problems)} problem(s) after restore: do not serve")
        err.print("journal and every document's hash verified")
