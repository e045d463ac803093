"""Test fixtures: the same suite runs on SQLite and on PostgreSQL.

PostgreSQL runs when OPENDMP_TEST_POSTGRES_URL names an admin connection (e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/postgres). The suite then creates its own database,
migrates it as the admin and connects as a non-superuser application role, like production.
Without it the PostgreSQL half is skipped, and said loudly at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from opendmp import migrate
from opendmp.config import Environment, Settings
from opendmp.kit.clock import FrozenClock
from opendmp.runtime import Runtime, build_runtime

PG_ADMIN_URL = os.environ.get("OPENDMP_TEST_POSTGRES_URL")
APP_ROLE = "opendmp_test_app"
NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def pytest_report_header(config: pytest.Config) -> str:
    state = f"on ({_safe(PG_ADMIN_URL)})" if PG_ADMIN_URL else "OFF (set OPENDMP_TEST_POSTGRES_URL)"
    return f"PostgreSQL tests: {state}"


def _safe(url: str | None) -> str:
    return make_url(url).render_as_string(hide_password=True) if url else ""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        reasons = sorted({str(r.longrepr[2]) if isinstance(r.longrepr, tuple) else str(r.longrepr) for r in skipped})
        terminalreporter.write_sep("!", f"{len(skipped)} TESTS SKIPPED", red=True, bold=True)
        for reason in reasons:
            terminalreporter.write_line(f"  skipped: {reason}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (OPENDMP_TEST_NO_SKIP=1) a skipped test is a failure: both databases must run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("OPENDMP_TEST_NO_SKIP") and skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[tuple[str, str]]:
    """A fresh database for this run: (admin URL, application URL)."""
    if not PG_ADMIN_URL:
        pytest.skip("PostgreSQL not configured: set OPENDMP_TEST_POSTGRES_URL")
    name = f"opendmp_test_{uuid.uuid4().hex[:8]}"
    server = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin_url = make_url(PG_ADMIN_URL).set(database=name)
    app_url = admin_url.set(username=APP_ROLE, password=None)
    admin = admin_url.render_as_string(hide_password=False)
    app = app_url.render_as_string(hide_password=False)
    try:
        migrate.upgrade(app, admin)
        yield admin, app
    finally:
        with server.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        server.dispose()


def _reset_postgres(admin_url: str) -> None:
    engine = create_engine(admin_url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT IN ('alembic_version', 'remuneration_rule', "
                    "'habilitation_matrix_version', 'habilitation_matrix_entry')"
                )
            )
        ]
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        # The shipped remuneration rules stay as shipped; rules a test set go.
        conn.execute(
            text("DELETE FROM remuneration_rule WHERE id NOT IN (:pharmacy, :nurse)"),
            {"pharmacy": "5c1f4b2e-0f4e-4d43-9a57-2f3c8f1f2018", "nurse": "8e0a9d7c-3b1a-4f6e-8d2c-6a4b1c9e2020"},
        )
        conn.execute(text("UPDATE remuneration_rule SET effective_until = NULL, amount_cents = 100"))
        # The shipped matrix (version 1) stays; versions a test imported go.
        conn.execute(text("DELETE FROM habilitation_matrix_entry WHERE version > 1"))
        conn.execute(text("DELETE FROM habilitation_matrix_version WHERE version > 1"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "opendmp.sqlite3"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    admin, app = request.getfixturevalue("postgres_database")
    _reset_postgres(admin)
    return app


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # No background checkpoints: tests seal the journal when they mean to, and schemathesis keeps
    # the apps it starts alive until the end of the run (their tickers would write into later tests).
    return Settings(
        env=Environment.TEST,
        dev_mode=True,
        data_dir=tmp_path / "data",
        database_url=database_url,
        journal_checkpoint_interval=0,
    )


@pytest.fixture
def runtime(settings: Settings, clock: FrozenClock) -> Iterator[Runtime]:
    runtime = build_runtime(settings, clock, pool_size=4)
    yield runtime
    runtime.close()
