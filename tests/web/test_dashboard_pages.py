# ruff: noqa: F811 - the login fixtures are imported from test_pro_login and used by name
"""The deployment dashboard: an operator signed in through OpenID Connect sees the figures, the
charts' data and CSV exports; others are refused; the scripts are served from the package with a
long cache, and the page runs no inline script. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from litestar.testing import TestClient

from opendmp.auth.staff_models import StaffRole
from opendmp.identity.actor import Actor
from opendmp.runtime import Runtime
from tests import factories as f
from tests.oidc_provider import Provider
from tests.web.test_patient_pages import another_browser
from tests.web.test_pro_login import add_staff, clock, doctor, log_in, provider, settings, web  # noqa: F401

PAGE = "/exploitation/tableau-de-bord"


def _operator(web: TestClient[Any], runtime: Runtime, provider: Provider) -> None:
    add_staff(runtime, provider, "alice", StaffRole.OPERATOR)
    assert log_in(web, provider, "sub-alice", "/connexion/agent").status_code == 303


def test_an_operator_sees_the_press_figures_charts_data_and_csv_exports(
    web: TestClient[Any], runtime: Runtime, provider: Provider
) -> None:
    agent = Actor.counter_agent("agent-1")
    for n in range(3):
        f.open_record(runtime, agent, *f.person(order=n), residence_department="69")
    _operator(web, runtime, provider)

    page = web.get(PAGE)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "3 DMP ouverts, 3 cette semaine" in page.text
    assert "Auvergne-Rhône-Alpes" in page.text
    assert "<script>" not in page.text and 'src="/exploitation/static/chart.umd.js' in page.text
    data = web.get(f"{PAGE}/donnees.json")
    assert data.status_code == 200 and data.headers["cache-control"] == "no-store"
    figures = json.loads(data.text)
    assert figures["recordsOpened"] == 3 and figures["openedByChannel"] == {"insurer-counter": 3}
    assert figures["target"] == 40_000_000
    exported = web.get(f"{PAGE}/export/regions.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text), delimiter=";"))
    assert rows == [["rang", "code", "region", "ouverts", "part"], ["1", "84", "Auvergne-Rhône-Alpes", "3", "1.0"]]
    assert web.get(f"{PAGE}/export/inconnue.csv").status_code == 404
    assert "Deployment dashboard" in web.get(PAGE, params={"lang": "en"}).text


def test_a_professional_or_an_anonymous_browser_gets_no_figures(
    web: TestClient[Any],
    runtime: Runtime,
    provider: Provider,
    doctor: str,
) -> None:
    assert web.get(f"{PAGE}/donnees.json").status_code == 401
    log_in(web, provider, doctor)
    for path in (PAGE, f"{PAGE}/donnees.json", f"{PAGE}/export/semaines.csv"):
        answer = web.get(path)
        assert answer.status_code == 403 and "recordsOpened" not in answer.text
    with another_browser(web):
        assert web.get(PAGE).status_code == 401


def test_the_scripts_are_served_from_the_package_with_a_long_cache(web: TestClient[Any]) -> None:
    chart = web.get("/exploitation/static/chart.umd.js")
    assert chart.status_code == 200 and "Chart.js v4" in chart.text[:200]
    assert "immutable" in chart.headers["cache-control"]
    assert web.get("/exploitation/static/dashboard.js").status_code == 200
    assert web.get("/exploitation/static/../app.py").status_code == 404
