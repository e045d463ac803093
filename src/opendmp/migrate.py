"""`opendmp db upgrade`: Alembic migrations, and on PostgreSQL the application role.

The service never connects as a superuser. With OPENDMP_ADMIN_DATABASE_URL, `db upgrade`
migrates as the admin, creates the role named in OPENDMP_DATABASE_URL (LOGIN, NOSUPERUSER)
and grants it what it needs: read and write on the tables, except the journal, which the
application may only read and append to (no UPDATE, no DELETE: tampering needs the admin), and
the journal's checkpoints, which it writes the same way. Retention rewrites old journal payloads
through the admin connection.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import make_url

from opendmp.kit.db import is_sqlite, make_engine

MIGRATIONS = Path(__file__).parent / "migrations"
APPEND_ONLY_TABLES = ("journal_entry", "journal_checkpoint", "journal_checkpoint_head")


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(database_url: str, admin_url: str | None = None, revision: str = "head") -> None:
    engine = make_engine(admin_url or database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
        if admin_url and not is_sqlite(database_url):
            grant_application_role(engine, database_url)
    finally:
        engine.dispose()


def grant_application_role(admin_engine: Engine, database_url: str) -> None:
    url = make_url(database_url)
    role = url.username
    if not role:
        raise ValueError("OPENDMP_DATABASE_URL must name the application role (user)")
    admin_role = make_url(str(admin_engine.url)).username
    if role == admin_role:
        return  # one role for both: nothing to grant (development set-ups)
    with admin_engine.begin() as conn:
        quoted = conn.dialect.identifier_preparer.quote(role)
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        if not exists:
            # Roles are the server's, not the database's: two migrations of two databases at once
            # (parallel test workers, two services) may both find it missing; the second one wins too.
            conn.execute(
                text(
                    "DO $$ BEGIN "
                    f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; "
                    "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                )
            )
        if url.password:
            password = str(url.password).replace("'", "''")
            conn.execute(text(f"ALTER ROLE {quoted} PASSWORD '{password}'"))
        database = conn.dialect.identifier_preparer.quote(conn.execute(text("SELECT current_database()")).scalar_one())
        conn.execute(text(f"GRANT CONNECT ON DATABASE {database} TO {quoted}"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
        tables = inspect(conn).get_table_names()
        for table in tables:
            t = conn.dialect.identifier_preparer.quote(table)
            if table in APPEND_ONLY_TABLES:
                conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {t} FROM {quoted}"))
                conn.execute(text(f"GRANT SELECT, INSERT ON {t} TO {quoted}"))
            elif table == "alembic_version":
                conn.execute(text(f"GRANT SELECT ON {t} TO {quoted}"))
            else:
                conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {quoted}"))
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))


def current_revision(database_url: str) -> str | None:
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            if "alembic_version" not in inspect(conn).get_table_names():
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
