"""Browser fixtures for the portal's tests (tests/web/browser.py explains the choices)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.browser import Watch, browser_session


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    yield from browser_session()


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Any, watch: Watch) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) per test, French first like our users."""
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch.attach(page)
    try:
        yield page
    finally:
        context.close()
