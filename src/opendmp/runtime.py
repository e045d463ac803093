"""What a running process holds: settings, database, keys, clock, token verifier. Built once by
the edges (the HTTP app, the CLI) and handed down; services receive only what they need."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from opendmp.auth.clients import is_client_active
from opendmp.auth.throttle import AddressLimiter
from opendmp.auth.tokens import TokenVerifier
from opendmp.config import Settings
from opendmp.document.blobstore import make_blob_store
from opendmp.document.keystore import make_key_store
from opendmp.document.vault import Vault
from opendmp.jobs import JobContext
from opendmp.kit.clock import Clock, SystemClock
from opendmp.kit.db import make_engine, make_session_factory
from opendmp.kit.keys import Keys, load_keyring, load_keys


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: Keys
    verifier: TokenVerifier
    vault: Vault
    clock: Clock = field(default_factory=SystemClock)

    @functools.cached_property
    def address_limiter(self) -> AddressLimiter:
        """The process's per-address windows (login attempts, refused tokens and forms), made at
        first use from the settings."""
        return AddressLimiter(self.settings.login_rate_limit)

    def job_context(self, on_progress: Callable[[str, int, int], None] | None = None) -> JobContext:
        return JobContext(self.sessions, self.vault, on_progress, self.settings)

    def close(self) -> None:
        self.engine.dispose()
        self.vault.keys.close()


def build_runtime(settings: Settings, clock: Clock | None = None, *, pool_size: int = 10) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keys = load_keys(settings)
    engine = make_engine(settings.resolved_database_url, pool_size=pool_size)
    clock = clock or SystemClock()
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        keys=keys,
        verifier=TokenVerifier(
            keys, dev_mode=settings.dev_mode, client_active=functools.partial(is_client_active, engine)
        ),
        vault=Vault(make_key_store(settings, load_keyring(settings), clock), make_blob_store(settings)),
        clock=clock,
    )
