"""Health profession codes (nomenclature TRE_G15 « Profession », the RPPS `Code profession`).

The list is packaged data, `opendmp/data/professions.csv` (columns code, display_fr, display_en),
read once and cached.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

_LABEL_COLUMNS = {"fr": "display_fr", "en": "display_en"}


@cache
def _professions() -> dict[str, dict[str, str]]:
    text = resources.files("opendmp.data").joinpath("professions.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return {
        row["code"].strip(): {lang: row[column].strip() for lang, column in _LABEL_COLUMNS.items()}
        for row in rows
        if row.get("code", "").strip()
    }


@cache
def profession_codes() -> frozenset[str]:
    """Every known profession code ("10" physician, "21" pharmacist, "60" nurse...)."""
    return frozenset(_professions())


def profession_label(code: str, lang: str = "fr") -> str | None:
    """The display name of a profession code in `lang` ("fr" or "en"), or None if the code is unknown."""
    if lang not in _LABEL_COLUMNS:
        raise ValueError(f"no profession labels in language {lang!r} (use one of {sorted(_LABEL_COLUMNS)})")
    labels = _professions().get(code.strip())
    return labels[lang] if labels is not None else None
