"""The portal speaks French first and English on request: every text a page wraps in `_` has an
English translation, and French dates, times and numbers read as French users expect."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from opendmp.web import i18n

WEB = Path(i18n.__file__).parent
# `_("…")` / `_('…')` in templates and in the page modules (Python string literals, one line).
WRAPPED = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def _wrapped_texts() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in [*WEB.glob("templates/**/*.html"), *WEB.glob("*.py")]:
        if path.name == "i18n.py":  # its docstring shows the pattern itself
            continue
        for match in WRAPPED.finditer(path.read_text(encoding="utf-8")):
            text = match.group(1) if match.group(1) is not None else match.group(2)
            found[text.replace('\\"', '"').replace("\\'", "'")] = path.name
    return found


def test_every_wrapped_text_has_an_english_translation() -> None:
    english = i18n.catalog("en")
    texts = _wrapped_texts()
    assert texts, "the pattern found no wrapped text: the check itself is broken"
    missing = sorted(f"{where}: {text}" for text, where in texts.items() if text not in english)
    assert not missing, "texts without an English translation:\n" + "\n".join(missing)


def test_translations_keep_the_placeholders_of_the_french_text() -> None:
    placeholder = re.compile(r"\{(\w+)\}")
    for source, text in i18n.catalog("en").items():
        assert set(placeholder.findall(source)) == set(placeholder.findall(text)), source


def test_french_is_the_default_and_a_choice_wins_over_the_browser() -> None:
    assert i18n.language_of({}, "") == "fr"
    assert i18n.language_of({}, "de-DE,de;q=0.9") == "fr"
    assert i18n.language_of({}, "en-GB,en;q=0.9") == "en"
    assert i18n.language_of({i18n.COOKIE: "fr"}, "en-GB") == "fr"
    assert i18n.language_of({i18n.COOKIE: "en"}, "fr-FR", query="fr") == "fr"
    assert i18n.language_of({i18n.COOKIE: "klingon"}, "") == "fr"


def test_an_untranslated_text_falls_back_to_french_and_arguments_are_filled() -> None:
    _ = i18n.translator("en")
    assert _("Texte jamais traduit {n}", n=3) == "Texte jamais traduit 3"
    assert i18n.translator("fr")("Mon dossier") == "Mon dossier"
    assert _("Mon dossier") == "My record"


def test_french_dates_are_day_first_and_times_are_in_paris_time() -> None:
    assert i18n.day(date(2026, 3, 12)) == "12/03/2026"
    assert i18n.day(date(2026, 3, 12), "en") == "2026-03-12"
    # 13:05 UTC is 14:05 in Paris in winter, 15:05 in summer.
    assert i18n.moment(datetime(2026, 3, 12, 13, 5, tzinfo=UTC)) == "12/03/2026 à 14:05"
    assert i18n.moment(datetime(2026, 7, 12, 13, 5, tzinfo=UTC)) == "12/07/2026 à 15:05"


@given(st.integers(min_value=0, max_value=10**12))
def test_french_numbers_group_thousands_with_a_narrow_space(value: int) -> None:
    text = i18n.number(value)
    assert text.replace(i18n.NBSP, "") == str(value)
    assert all(len(group) == 3 for group in text.split(i18n.NBSP)[1:])
    assert i18n.number(value, "en") == f"{value:,}"


def test_the_language_switch_returns_only_to_pages_of_this_site() -> None:
    assert i18n.safe_return("/mon-dossier?x=1") == "/mon-dossier?x=1"
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "", None):
        assert i18n.safe_return(hostile) == "/"
