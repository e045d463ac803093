"""The operators' deployment dashboard: the page, its JSON data (what the charts draw, and what
bench/stats times), a CSV export of each table, and the two scripts it loads (Chart.js 4,
vendored from npm `chart.js@4`, and the drawing code: no inline script under the CSP).

Who may see the figures is the policy's call (stats:read, operators only), asked by the service;
the session is the staff login's (web/pro_pages.py). Pages and data are no-store; the scripts are
immutable files under a versioned URL, cached for a year."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.params import FromPath

from opendmp.auth.account_models import SessionStage
from opendmp.identity.actor import Actor, ActorKind
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import AccessDenied, HiddenFromActor
from opendmp.kit.threads import threaded
from opendmp.stats.dashboard import FiguresCache, cached_figures, csv_tables, format_fr
from opendmp.web.patient_pages import Page, _current, address_of, edge_of, per_runtime
from opendmp.web.pro_pages import HOME, LOGOUT, OPERATOR_LINKS

PATH = "/exploitation/tableau-de-bord"
STATIC = Path(__file__).parent / "static"
CHART_VERSION = "4.6.1"
SCRIPTS = {
    "chart.umd.js": STATIC / "vendor" / "chart.umd.js",
    "dashboard.js": STATIC / "dashboard.js",
}
TEXTS = {
    "fr": {
        "title": "Tableau de bord du déploiement",
        "opened": "DMP ouverts",
        "this_week": "cette semaine",
        "target": "Cible",
        "projection": "Cible atteinte au rythme actuel le",
        "no_projection": "Pas de rythme récent pour projeter la date de la cible.",
        "pace": "Rythme (moyenne des 4 dernières semaines complètes)",
        "activation": "Taux d'activation (espaces activés / DMP ouverts)",
        "empty": "DMP encore vides 30 jours après leur ouverture",
        "documents": "Documents ajoutés",
        "feeders": "Établissements alimentant automatiquement",
        "chu": "dont CHU",
        "pharmacies": "Pharmacies ayant ouvert au moins un DMP",
        "nurses": "Infirmiers ayant ouvert au moins un DMP",
        "weekly_users": "Utilisateurs actifs la semaine dernière",
        "chart_weekly": "Ouvertures par semaine et par canal",
        "chart_cumulative": "Cumul des DMP ouverts et cible",
        "chart_documents": "Documents ajoutés par semaine et par source",
        "regions": "Régions (résidence du titulaire), par nombre de DMP ouverts",
        "rank": "Rang",
        "region": "Région",
        "share": "Part",
        "channels": "Canaux d'ouverture",
        "channel": "Canal",
        "types": "Documents par type",
        "type": "Type",
        "export": "Exporter en CSV",
        "other": "English",
        "other_lang": "en",
        "home": "Accueil",
    },
    "en": {
        "title": "Deployment dashboard",
        "opened": "records opened",
        "this_week": "this week",
        "target": "Target",
        "projection": "Target reached at the current pace on",
        "no_projection": "No recent pace to project the target's date from.",
        "pace": "Pace (mean of the last 4 complete weeks)",
        "activation": "Activation rate (accounts activated / records opened)",
        "empty": "Records still empty 30 days after opening",
        "documents": "Documents added",
        "feeders": "Establishments feeding automatically",
        "chu": "of which university hospitals",
        "pharmacies": "Pharmacies that opened at least one record",
        "nurses": "Nurses who opened at least one record",
        "weekly_users": "Active users last week",
        "chart_weekly": "Openings by week and channel",
        "chart_cumulative": "Records opened, cumulative, and the target",
        "chart_documents": "Documents added by week and source",
        "regions": "Regions (holder's residence), by records opened",
        "rank": "Rank",
        "region": "Region",
        "share": "Share",
        "channels": "Opening channels",
        "channel": "Channel",
        "types": "Documents by type",
        "type": "Type",
        "export": "Export as CSV",
        "other": "Français",
        "other_lang": "fr",
        "home": "Home",
    },
}


def _cache_of(runtime: Any) -> FiguresCache:
    return per_runtime(runtime, "_dashboard_cache", lambda r: FiguresCache(r.settings.stats_cache_seconds))


def _figures(request: Request[Any, Any, Any]) -> tuple[Page, Actor, dict[str, Any]] | Response[Any]:
    """The signed-in operator's figures, or the answer to give: 401 without a session, 403 when
    the policy refuses (the refusal is journaled by the service)."""
    edge = edge_of(request)
    page = Page(edge, request)
    found = _current(page, SessionStage.AUTHENTICATED)
    if isinstance(found, Response):
        return found
    actor = found[1].actor.at(address_of(request))
    runtime = edge.runtime
    try:
        with unit_of_work(runtime.sessions) as db:
            figures = cached_figures(
                db, actor, runtime.clock.now(), target=runtime.settings.stats_target, cache=_cache_of(runtime)
            )
    except (AccessDenied, HiddenFromActor):
        return page.render(
            "message.html",
            403,
            title="Accès refusé",
            alert="Cette page est réservée aux opérateurs de la plateforme.",
            lines=[],
            links=[(HOME.get(actor.kind, "/"), "Retour à mon accueil")],
            nav=[(HOME.get(actor.kind, "/"), "Accueil")] if actor.kind is not ActorKind.PATIENT else None,
            logout_action=LOGOUT if actor.kind is not ActorKind.PATIENT else None,
        )
    return page, actor, figures


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}".replace(".", ",") + "\u202f%"


@get(PATH, include_in_schema=False)
@threaded
def dashboard_page(request: Request[Any, Any, Any]) -> Response[Any]:
    found = _figures(request)
    if isinstance(found, Response):
        return found
    page, _actor, figures = found
    t = TEXTS.get(page.lang, TEXTS["fr"])  # the portal's language (?lang=, cookie, Accept-Language)
    users = figures["weeklyActiveUsers"]
    return page.render(
        "dashboard.html",
        t=t,
        f=figures,
        n=format_fr,
        pct=_percent,
        last_week_users=users[-2]["users"] if len(users) >= 2 else (users[-1]["users"] if users else 0),
        tables=list(csv_tables(figures)),
        base=PATH,
        chart_version=CHART_VERSION,
        chart_lang=page.lang,
        nav=[(HOME[ActorKind.OPERATOR], t["home"]), (PATH, t["title"])],
        logout_action=LOGOUT,
    )


@get(f"{PATH}/donnees.json", include_in_schema=False)
@threaded
def dashboard_data(request: Request[Any, Any, Any]) -> Response[Any]:
    found = _figures(request)
    if isinstance(found, Response):
        return found
    return Response(
        json.dumps(found[2], ensure_ascii=False),
        media_type=MediaType.JSON,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@get(f"{PATH}/export/{{name:str}}", include_in_schema=False)
@threaded
def dashboard_csv(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    """One table as CSV: /export/regions.csv, /export/semaines.csv, …"""
    found = _figures(request)
    if isinstance(found, Response):
        return found
    tables = csv_tables(found[2])
    table = name.removesuffix(".csv")
    if not name.endswith(".csv") or table not in tables:
        return Response("table inconnue / unknown table\n", status_code=404, media_type=MediaType.TEXT)
    header, rows = tables[table]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")  # the separator French spreadsheets expect
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="opendmp-{table}-{found[2]["asOf"]}.csv"',
        },
    )


@get("/exploitation/static/{name:str}", include_in_schema=False, sync_to_thread=False)
def dashboard_script(name: FromPath[str]) -> Response[Any]:
    """The dashboard's two scripts, from the package (no download at run time)."""
    path = SCRIPTS.get(name)
    if path is None:
        return Response("", status_code=404, media_type=MediaType.TEXT)
    return Response(
        path.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


OPERATOR_LINKS.append((PATH, "Tableau de bord du déploiement"))  # on the operator's landing page
ROUTES = [dashboard_page, dashboard_data, dashboard_csv, dashboard_script]
