"""Running blocking handler bodies (database, crypto, files) off the event loop."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread

P = ParamSpec("P")
R = TypeVar("R")


def threaded(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """An async handler that runs `fn` in a worker thread. Used instead of Litestar's
    `sync_to_thread=True`, which wraps a sync handler twice when several handlers share a
    path in Litestar 2.25 (the second wrapper returns an un-awaited coroutine)."""

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    return run
