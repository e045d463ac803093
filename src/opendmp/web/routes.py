"""Web pages. The foundation has the home page only; the portal issue grows the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Request, Response, get

from opendmp import __version__
from opendmp.web.account_pages import ROUTES as ACCOUNT_ROUTES
from opendmp.web.patient_pages import ROUTES as PATIENT_ROUTES
from opendmp.web.pro_pages import ROUTES as PRO_ROUTES

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)

TEXTS = {
    "fr": {
        "title": "OpenDMP — Dossier Médical Partagé",
        "lead": "Le service de dossier médical partagé est en marche.",
        "api": "API FHIR R4 (logiciels des professionnels)",
        "capability": "Déclaration de capacités",
        "health": "État du service",
        "dev": "Mode développement : jetons de test acceptés (opendmp dev-token --rpps …).",
        "other": "English",
        "other_lang": "en",
    },
    "en": {
        "title": "OpenDMP — Shared Medical Record",
        "lead": "The shared medical record service is running.",
        "api": "FHIR R4 API (professional software)",
        "capability": "Capability statement",
        "health": "Service health",
        "dev": "Development mode: test tokens accepted (opendmp dev-token --rpps …).",
        "other": "Français",
        "other_lang": "fr",
    },
}


def language_of(request: Request[Any, Any, Any]) -> str:
    chosen = request.query_params.get("lang")
    if isinstance(chosen, str) and chosen in TEXTS:
        return chosen
    accept = request.headers.get("accept-language", "")
    first = accept.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "fr"


@get("/", sync_to_thread=False)
def home(request: Request[Any, Any, Any]) -> Response[str]:
    lang = language_of(request)
    html: str = _templates.get_template("home.html").render(
        t=TEXTS[lang], lang=lang, version=__version__, dev_mode=request.app.state.runtime.settings.dev_mode
    )
    return Response(
        html, media_type=MediaType.HTML, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    )


ROUTES = [home, *PATIENT_ROUTES, *ACCOUNT_ROUTES, *PRO_ROUTES]
