"""Web pages: the home page, the language switch and the static files; each space (patient,
professional, counter, operator) has its own module of pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from opendmp import __version__
from opendmp.web import i18n, render
from opendmp.web.account_pages import ROUTES as ACCOUNT_ROUTES
from opendmp.web.content_pages import ROUTES as CONTENT_ROUTES
from opendmp.web.counter_pages import ROUTES as COUNTER_ROUTES
from opendmp.web.dashboard_pages import ROUTES as DASHBOARD_ROUTES
from opendmp.web.document_pages import ROUTES as DOCUMENT_ROUTES
from opendmp.web.patient_pages import ROUTES as PATIENT_ROUTES
from opendmp.web.pro_pages import ROUTES as PRO_ROUTES
from opendmp.web.pro_space import ROUTES as PRO_SPACE_ROUTES
from opendmp.web.record_pages import ROUTES as RECORD_ROUTES
from opendmp.web.settings_pages import ROUTES as SETTINGS_ROUTES
from opendmp.web.summary_pages import ROUTES as SUMMARY_ROUTES

STATIC = Path(__file__).parent / "static"
# Vendored and own static files change only with a release: browsers may keep them a day.
STATIC_CACHE = CacheControlHeader(public=True, max_age=86400)


@get("/", sync_to_thread=False)
def home(request: Request[Any, Any, Any]) -> Response[str]:
    lang = render.language(request)
    html = render.render(
        "home.html",
        lang,
        "/",
        version=__version__,
        dev_mode=request.app.state.runtime.settings.dev_mode,
    )
    return Response(html, media_type=MediaType.HTML)


@get("/langue", sync_to_thread=False, include_in_schema=False)
def choose_language(request: Request[Any, Any, Any]) -> Response[str]:
    """`/langue?l=en&retour=/mon-dossier`: remembered for a year, back to the page."""
    chosen = request.query_params.get("l")
    back = request.query_params.get("retour")
    lang = chosen if chosen in i18n.LANGUAGES else i18n.DEFAULT
    secure = request.app.state.runtime.settings.secure_cookies
    return Response(
        "",
        status_code=303,
        headers={"Location": i18n.safe_return(back if isinstance(back, str) else None)},
        cookies=[Cookie(key=i18n.COOKIE, value=lang, path="/", max_age=365 * 24 * 3600, secure=secure, samesite="lax")],
    )


static_files = create_static_files_router(
    path="/static", directories=[STATIC], cache_control=STATIC_CACHE, include_in_schema=False, name="static"
)

ROUTES: list[ControllerRouterHandler] = [
    home,
    choose_language,
    static_files,
    *PATIENT_ROUTES,
    *ACCOUNT_ROUTES,
    *PRO_ROUTES,
    *PRO_SPACE_ROUTES,
    *SUMMARY_ROUTES,
    *COUNTER_ROUTES,
    *DASHBOARD_ROUTES,
    *DOCUMENT_ROUTES,
    *RECORD_ROUTES,
    *SETTINGS_ROUTES,
    *CONTENT_ROUTES,
]
