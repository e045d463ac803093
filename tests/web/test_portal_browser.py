"""The portal in a real browser: the home page speaks French first, switches to English and back,
and passes the checks every main page must pass (screenshots, axe-core, no CSP violation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opendmp.config import Settings
from tests.live import live_server
from tests.web.browser import SCREENSHOTS, Watch, check_page


@pytest.fixture
def portal(settings: Settings, tmp_path: Path) -> Any:
    with live_server(settings, tmp_path / "server.log") as base:
        yield base


def test_home_page_speaks_french_first_and_english_on_request(page: Any, portal: str, watch: Watch) -> None:
    page.goto(portal + "/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("link", name="Accéder à mon dossier").is_visible()
    check_page(page, "accueil", watch)

    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("link", name="Open my record").is_visible()
    check_page(page, "accueil-en", watch)

    # The choice is remembered on the next page, and can be undone.
    page.get_by_role("link", name="Open my record").click()
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="Français").click()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert (SCREENSHOTS / "accueil-telephone.png").exists()


def test_the_patient_login_page_is_usable_without_javascript(browser: Any, portal: str) -> None:
    context = browser.new_context(java_script_enabled=False, locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(portal + "/connexion")
        assert page.get_by_label("Identifiant", exact=True).is_visible()
        page.get_by_role("button", name="Continuer").click()
        # The server answered the form itself: an error next to the field, no script involved.
        assert page.locator(".error").first.is_visible()
    finally:
        context.close()


def test_static_files_are_served_with_a_cache_and_pages_are_not_cached(portal: str) -> None:
    import httpx

    css = httpx.get(portal + "/static/portal.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert "max-age=86400" in css.headers["cache-control"]
    assert httpx.get(portal + "/static/vendor/htmx.min.js").status_code == 200
    home = httpx.get(portal + "/")
    assert home.headers["cache-control"] == "no-store"
    assert "style-src 'self';" in home.headers["content-security-policy"]
