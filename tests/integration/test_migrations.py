"""Migrations from empty on both databases, no drift between models and migrations, and the
application role on PostgreSQL: not a superuser, and unable to rewrite the journal."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from opendmp import migrate
from opendmp.models import metadata
from tests.conftest import PG_ADMIN_URL

EXPECTED_TABLES = {
    "stats_opening_week",
    "stats_opening_region",
    "stats_document_type",
    "stats_document_week",
    "stats_activation_day",
    "stats_filled_day",
    "stats_week_active",
    "stats_opener",
    "stats_feeder",
    "stats_week_user",
    "feed_submission",
    "clinical_summary",
    "record",
    "patient",
    "ins_lookup",
    "traits_lookup",
    "legal_representative",
    "heir_access_request",
    "authorisation",
    "organisation",
    "professional",
    "professional_activity",
    "remuneration_rule",
    "remuneration_entry",
    "journal_entry",
    "journal_head",
    "journal_checkpoint",
    "journal_checkpoint_head",
    "alembic_version",
    "document",
    "document_author",
    "document_lookup",
    "submission_set",
    "document_exam",
    "patient_content",
    "reimbursement_batch",
    "reimbursement_claim",
    "reimbursement_parked",
    "contact_point",
    "notification_preference",
    "professional_contact",
    "notification_outbox",
    "professional_block",
    "consent_preferences",
    "emergency_access",
    "habilitation_matrix_version",
    "habilitation_matrix_entry",
    "professional_first_access",
    "invisible_document_notice",
    "software_client",
    "client_assertion_jti",
    "patient_account",
    "one_time_code",
    "auth_session",
    "login_throttle",
    "delegation",
    "stats_opening_day",
    "stats_document_day",
    "staff_account",
    "oidc_pending_login",
}


def _no_drift(url: str) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == EXPECTED_TABLES
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert diff == []


def test_migrations_build_the_schema_from_empty_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.sqlite3"
    migrate.upgrade(url)
    assert migrate.current_revision(url) == "0017"
    _no_drift(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM remuneration_rule")).scalar_one() == 2
    engine.dispose()


def test_sqlite_runs_in_wal_with_full_synchronous_and_foreign_keys(tmp_path: Path) -> None:
    from opendmp.kit.db import make_engine

    url = f"sqlite:///{tmp_path}/pragmas.sqlite3"
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


@pytest.fixture
def empty_postgres() -> tuple[str, str]:
    if not PG_ADMIN_URL:
        pytest.skip("PostgreSQL not configured: set OPENDMP_TEST_POSTGRES_URL")
    name = f"opendmp_mig_{uuid.uuid4().hex[:8]}"
    server = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    admin = make_url(PG_ADMIN_URL).set(database=name)
    return (
        admin.render_as_string(hide_password=False),
        admin.set(username="opendmp_mig_app", password=None).render_as_string(hide_password=False),
    )


@pytest.mark.postgres
def test_migrations_build_the_schema_from_empty_on_postgres_with_a_restricted_role(
    empty_postgres: tuple[str, str],
) -> None:
    admin, app = empty_postgres
    try:
        migrate.upgrade(app, admin)
        _no_drift(admin)
        engine = create_engine(app)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar() is False
            conn.execute(text("SELECT count(*) FROM journal_entry"))
            with pytest.raises(ProgrammingError):
                conn.execute(text("UPDATE journal_entry SET actor_id = 'x'"))
            conn.rollback()
            with pytest.raises(ProgrammingError):
                conn.execute(text("DELETE FROM journal_entry"))
            conn.rollback()
            for table in ("journal_checkpoint", "journal_checkpoint_head"):
                conn.execute(text(f"SELECT count(*) FROM {table}"))
                for statement in (f"UPDATE {table} SET seq = 0", f"DELETE FROM {table}"):
                    with pytest.raises(ProgrammingError):
                        conn.execute(text(statement))
                    conn.rollback()
            with pytest.raises(ProgrammingError):
                conn.execute(text("CREATE TABLE intruder (id int)"))
        engine.dispose()
        migrate.upgrade(app, admin)  # a second run changes nothing and does not fail
    finally:
        server = create_engine(PG_ADMIN_URL or "", isolation_level="AUTOCOMMIT")
        name = make_url(admin).database
        with server.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        server.dispose()
