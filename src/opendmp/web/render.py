"""One Jinja environment for every page of the portal, with the French formats as filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request

from opendmp.web import i18n

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["day"] = i18n.day
templates.filters["moment"] = i18n.moment
templates.filters["number"] = i18n.number


def language(request: Request[Any, Any, Any]) -> str:
    query = request.query_params.get("lang")
    return i18n.language_of(
        dict(request.cookies), request.headers.get("accept-language", ""), query if isinstance(query, str) else None
    )


def render(template: str, lang: str, path: str = "/", **context: Any) -> str:
    """`path` is the page's own path, for the language switch to come back to."""
    return templates.get_template(template).render(
        _=i18n.translator(lang), lang=lang, other_lang="en" if lang == "fr" else "fr", here=path, **context
    )
