"""The real browser for the portal's tests: Debian's `chromium` driven by Playwright for Python,
with a fresh profile per test, screenshots at phone and desktop width kept as test artefacts,
axe-core (npm, installed by `make node-clients`) for accessibility, and a watch on the console
so that a Content-Security-Policy violation or a script error fails the test."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests/clients/node/node_modules/axe-core/axe.min.js"
ARTEFACTS = Path(os.environ.get("OPENDMP_TEST_ARTEFACTS", ROOT / "test-artefacts"))
SCREENSHOTS = ARTEFACTS / "screenshots"
# The flags the project runs Chromium with (headless, no sandbox inside containers, nothing
# fetched from the network by the browser itself).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# axe-core impact levels that fail a page (moderate and minor are reported, not failed).
BLOCKING = {"serious", "critical"}


def chromium_path() -> str | None:
    return os.environ.get("OPENDMP_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Watch:
    """What the page said on its console: errors fail the test at the end."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


def browser_session() -> Iterator[Any]:
    """One Chromium for the test session (skipped, loudly, where Playwright or Chromium is missing:
    CI sets OPENDMP_TEST_NO_SKIP, which turns any skip into a failure)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.skip("Playwright for Python is not installed (pip install -e '.[test]')")
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium not found: apt-get install chromium (done by .ci/run)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshots(page: Any, name: str) -> list[Path]:
    """The current page at phone and desktop width, whole page, as artefacts; the viewport is
    put back afterwards."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    taken = []
    for label, size in (("telephone", PHONE), ("bureau", DESKTOP)):
        page.set_viewport_size(size)
        path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    if before:
        page.set_viewport_size(before)
    return taken


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page (WCAG 2.x A and AA rules).
    Evaluated through the DevTools protocol, which the page's CSP does not govern."""
    if not AXE.exists():
        pytest.skip(f"axe-core not installed ({AXE}): run `make node-clients`")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
            const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }"""
    )
    return [v for v in result if v["impact"] in BLOCKING]


def check_page(page: Any, name: str, watch: Watch) -> None:
    """What every main page must pass: screenshots kept, no serious accessibility violation,
    nothing blocked by the CSP, no script error."""
    screenshots(page, name)
    violations = axe_violations(page)
    assert not violations, f"{name}: accessibility violations: {violations}"
    assert not watch.errors, f"{name}: console errors: {watch.errors}"
