"""What a running process holds: settings, database, keys, clock, token verifier. Built once by
the edges (the HTTP app, the CLI) and handed down; services receive only what they need."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from opendmp.auth.tokens import TokenVerifier
from opendmp.config import Settings
from opendmp.kit.clock import Clock, SystemClock
from opendmp.kit.db import make_engine, make_session_factory
from opendmp.kit.keys import Keys, load_keys


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: Keys
    verifier: TokenVerifier
    clock: Clock = field(default_factory=SystemClock)

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings, clock: Clock | None = None, *, pool_size: int = 10) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keys = load_keys(settings)
    engine = make_engine(settings.resolved_database_url, pool_size=pool_size)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        keys=keys,
        verifier=TokenVerifier(keys, dev_mode=settings.dev_mode),
        clock=clock or SystemClock(),
    )
