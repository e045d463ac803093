"""The portal's languages: French first, English available.

French is the source language: pages are written in French and wrap their texts in `_("…")`;
English translations live in `locales/en/*.json` (one file per part of the portal, so parts grow
apart), keyed by the French text. A missing translation falls back to French, and a test
(tests/unit/test_portal_i18n.py) fails when a text wrapped in `_` has no English entry.

The language is the one chosen on the page (`/langue`, remembered in a cookie), else the
browser's first preference, else French."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

LANGUAGES = ("fr", "en")
DEFAULT = "fr"
COOKIE = "dmp_langue"
LOCALES = Path(__file__).parent / "locales"
# Dates and times are shown as French users read them, in metropolitan France's time zone.
PARIS = ZoneInfo("Europe/Paris")

Translate = Callable[..., str]


@cache
def catalog(lang: str) -> dict[str, str]:
    """French text → translation, merged from every file of the language."""
    merged: dict[str, str] = {}
    for path in sorted((LOCALES / lang).glob("*.json")):
        for source, text in json.loads(path.read_text(encoding="utf-8")).items():
            if merged.get(source, text) != text:
                raise ValueError(f"{path.name}: {source!r} translated twice, differently")
            merged[source] = text
    return merged


def translator(lang: str) -> Translate:
    """`_("Bonjour {name}", name=…)`: the text in `lang`, then formatted with the arguments."""
    texts = catalog(lang) if lang != DEFAULT else {}

    def _(source: str, **values: Any) -> str:
        text = texts.get(source, source)
        return text.format(**values) if values else text

    return _


def language_of(cookies: dict[str, str], accept_language: str, query: str | None = None) -> str:
    for chosen in (query, cookies.get(COOKIE)):
        if chosen in LANGUAGES:
            return chosen
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT


_LOCAL_PATH = re.compile(r"^/(?![/\\])[\x21-\x7e]*$")


def safe_return(path: str | None) -> str:
    """Where to go back after choosing a language: a path of this site only (no open redirect)."""
    return path if path and _LOCAL_PATH.match(path) else "/"


# ---------------------------------------------------------------- formats French users expect

NBSP = "\u202f"  # narrow no-break space: the French thousands separator


def number(value: int | float, lang: str = DEFAULT, decimals: int = 0) -> str:
    """240 090 in French, 240,090 in English."""
    text = f"{value:,.{decimals}f}"
    if lang == "fr":
        text = text.replace(",", NBSP).replace(".", ",")
    return text


def day(value: date | datetime | None, lang: str = DEFAULT) -> str:
    """12/03/2026 in French (day first), 2026-03-12 in English (unambiguous)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _local(value).date()
    return f"{value:%d/%m/%Y}" if lang == "fr" else value.isoformat()


def moment(value: datetime | None, lang: str = DEFAULT) -> str:
    """12/03/2026 à 14:05 (Paris time)."""
    if value is None:
        return ""
    local = _local(value)
    return f"{local:%d/%m/%Y} à {local:%H:%M}" if lang == "fr" else f"{local:%Y-%m-%d} at {local:%H:%M}"


def _local(value: datetime) -> datetime:
    return value.astimezone(PARIS) if value.tzinfo is not None else value
