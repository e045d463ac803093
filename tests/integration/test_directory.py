"""Import of the public directory extracts (FINESS establishments, RPPS professionals)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from opendmp.identity import directory
from opendmp.identity.models import Organisation, Professional, ProfessionalActivity
from opendmp.identity.professions import profession_codes, profession_label
from opendmp.kit.db import make_engine, make_session_factory, unit_of_work
from opendmp.migrate import upgrade

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "directory"
FINESS = FIXTURES / "finess_sample.csv"
RPPS = FIXTURES / "rpps_sample.txt"


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path}/t.sqlite3"
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _import_finess(sessions: sessionmaker[Session], path: Path = FINESS) -> directory.ImportReport:
    with unit_of_work(sessions) as session:
        return directory.import_finess(session, path)


def _import_rpps(sessions: sessionmaker[Session], path: Path = RPPS) -> directory.ImportReport:
    with unit_of_work(sessions) as session:
        return directory.import_rpps(session, path)


def _organisations(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str, str | None, str | None]]:
    with unit_of_work(sessions) as session:
        return {
            org.finess: (org.name, org.kind, org.department, org.region)
            for org in session.execute(select(Organisation)).scalars()
        }


def _activities(sessions: sessionmaker[Session]) -> set[tuple[str, str]]:
    with unit_of_work(sessions) as session:
        rows = session.execute(
            select(Professional.rpps, Organisation.finess)
            .join(ProfessionalActivity, ProfessionalActivity.professional_id == Professional.id)
            .join(Organisation, Organisation.id == ProfessionalActivity.organisation_id)
        )
        return {(row.rpps, row.finess) for row in rows}


def _line_of(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} is not in {path.name}")


def test_detect_kind_sniffs_the_first_line() -> None:
    assert directory.detect_kind(FINESS) == "finess"
    assert directory.detect_kind(RPPS) == "rpps"


def test_finess_import_creates_organisations_with_kind_and_region(sessions: sessionmaker[Session]) -> None:
    progress: list[int] = []
    with unit_of_work(sessions) as session:
        report = directory.import_finess(session, FINESS, on_progress=progress.append, batch_size=5)

    assert (report.created, report.updated, report.unchanged) == (12, 0, 0)
    assert report.rejected == [(14, "invalid FINESS number '12345'")]
    assert progress == sorted(progress)
    assert progress[-1] == FINESS.stat().st_size
    orgs = _organisations(sessions)
    assert len(orgs) == 12
    assert orgs["330000019"] == (
        "CENTRE HOSPITALIER UNIVERSITAIRE DE BORDEAUX SITE NORD",
        "university-hospital",
        "33",
        "75",
    )
    assert orgs["970400016"][1:] == ("university-hospital", "974", "04")  # `9D` in the extract
    assert orgs["010000016"][1:] == ("hospital", "01", "84")
    assert orgs["2A0000011"][1:] == ("hospital", "2A", "94")
    assert orgs["290000017"][1:] == ("hospital", "29", "53")
    assert orgs["690000019"] == ('CLINIQUE "LES CEDRES"', "clinic", "69", "84")
    assert orgs["750000013"] == ("EHPAD RÉSIDENCE LES TILLEULS", "ehpad", "75", "11")
    assert orgs["750000021"][1:] == ("pharmacy", "75", "11")
    assert orgs["970100018"] == ("PHARMACIE DU MORNE À L'EAU", "pharmacy", "971", "01")
    assert orgs["130000015"][1:] == ("health-centre", "13", "93")
    # no long name (rslongue): the short one (rs)
    assert orgs["310000012"] == ("LBM OCCITANIE BIOLOGIE", "laboratory", "31", "76")
    assert orgs["440000018"][1:] == ("other", "44", "52")


def test_finess_extract_in_utf8_with_bom_reads_the_same(
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    utf8 = tmp_path / "finess_utf8.csv"
    utf8.write_text(FINESS.read_text(encoding="latin-1"), encoding="utf-8-sig")
    assert directory.detect_kind(utf8) == "finess"

    report = _import_finess(sessions, utf8)

    assert report.created == 12
    assert _organisations(sessions)["750000013"][0] == "EHPAD RÉSIDENCE LES TILLEULS"


def test_importing_the_same_extract_twice_changes_nothing(sessions: sessionmaker[Session]) -> None:
    _import_finess(sessions)
    _import_rpps(sessions)
    organisations, activities = _organisations(sessions), _activities(sessions)

    finess_again = _import_finess(sessions)
    rpps_again = _import_rpps(sessions)

    assert (finess_again.created, finess_again.updated, finess_again.unchanged) == (0, 0, 12)
    assert (rpps_again.created, rpps_again.updated, rpps_again.unchanged) == (0, 0, 9)
    assert rpps_again.activities_created == 0
    assert _organisations(sessions) == organisations
    assert _activities(sessions) == activities
    with unit_of_work(sessions) as session:
        assert session.execute(select(func.count()).select_from(Professional)).scalar_one() == 9
        assert session.execute(select(func.count()).select_from(ProfessionalActivity)).scalar_one() == 8


def test_rpps_import_links_professionals_to_their_establishments(sessions: sessionmaker[Session]) -> None:
    _import_finess(sessions)

    with unit_of_work(sessions) as session:
        report = directory.import_rpps(session, RPPS, batch_size=2)

    assert (report.created, report.updated, report.unchanged) == (9, 0, 0)
    assert report.activities_created == 8
    assert _activities(sessions) == {
        ("10000000001", "330000019"),  # two activities for one person
        ("10000000001", "690000019"),
        ("10000000002", "2A0000011"),  # listed twice in the extract, linked once
        ("10000000003", "750000021"),
        ("10000000004", "970100018"),
        ("10000000005", "750000013"),
        ("10000000009", "330000019"),
        ("10000000010", "010000016"),
    }
    with unit_of_work(sessions) as session:
        dupont = session.execute(select(Professional).where(Professional.rpps == "10000000001")).scalar_one()
        assert (dupont.profession, dupont.specialty) == ("10", "SM54")
        assert (dupont.family, dupont.given) == ("DUPONT", "JEAN")
        richard = session.execute(select(Professional).where(Professional.rpps == "10000000006")).scalar_one()
        assert (richard.profession, richard.specialty) == ("60", None)  # no FINESS site: no activity
        # a FINESS site that is not in the directory: the professional is imported, not linked
        assert session.execute(select(Professional.id).where(Professional.rpps == "10000000007")).scalar_one()


def test_invalid_rpps_lines_are_rejected_with_their_line_number_without_stopping(
    sessions: sessionmaker[Session],
) -> None:
    _import_finess(sessions)

    report = _import_rpps(sessions)

    assert report.rejected == [
        (_line_of(RPPS, "|012600631|"), "invalid RPPS number '012600631' (11 digits expected)"),
        (_line_of(RPPS, "|10000000008|"), "unknown profession code '99' for RPPS 10000000008"),
    ]
    assert report.rejected_count == 2
    with unit_of_work(sessions) as session:
        imported = set(session.execute(select(Professional.rpps)).scalars())
    assert "10000000008" not in imported
    assert "10000000010" in imported  # the lines after the rejected ones were imported


def test_changed_name_in_a_later_extract_updates_the_professional(
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    _import_finess(sessions)
    _import_rpps(sessions)
    later = tmp_path / "rpps_later.txt"
    later.write_text(
        RPPS.read_text(encoding="utf-8").replace("|MARTIN|SOPHIE|", "|MARTIN-DUVAL|SOPHIE|"), encoding="utf-8"
    )

    report = _import_rpps(sessions, later)

    assert (report.created, report.updated, report.unchanged) == (0, 1, 8)
    with unit_of_work(sessions) as session:
        martin = session.execute(select(Professional).where(Professional.rpps == "10000000002")).scalar_one()
        assert (martin.family, martin.given) == ("MARTIN-DUVAL", "SOPHIE")
    assert ("10000000002", "2A0000011") in _activities(sessions)


def test_changed_category_in_a_later_finess_extract_updates_the_organisation(
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    _import_finess(sessions)
    later = tmp_path / "finess_later.csv"
    later.write_text(
        FINESS.read_text(encoding="latin-1").replace(
            "CENTRE HOSPITALIER DE LANDERNEAU;;;;;;;;103;29;FINISTERE;29800 LANDERNEAU;0100000000;;106;",
            "CENTRE HOSPITALIER DE LANDERNEAU;;;;;;;;103;29;FINISTERE;29800 LANDERNEAU;0100000000;;365;",
        ),
        encoding="latin-1",
    )

    report = _import_finess(sessions, later)

    assert (report.created, report.updated, report.unchanged) == (0, 1, 11)
    assert _organisations(sessions)["290000017"][1] == "clinic"


def test_professions_come_from_the_packaged_list() -> None:
    assert {"10", "21", "60"} <= profession_codes()
    assert "99" not in profession_codes()
    assert profession_label("21") == "Pharmacien"
    assert profession_label("60", lang="en") == "Nurse"
    assert profession_label("99") is None
