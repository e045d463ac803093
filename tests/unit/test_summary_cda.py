"""The CDA of a VSM or DLU reads back, through the platform's own header reader, exactly as it
was written, whatever the names, identifiers, times and versions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from opendmp.document.cda import read_header
from opendmp.identity.ins import Gender, Ins, InsSystem
from opendmp.summary.cda import CdaAuthorIn, CdaSpec, build_cda
from tests.factories import make_nir

PDF = b"%PDF-1.4\n%%EOF\n"
# Names as the directory and the INS hold them: Latin letters, accents, hyphens, apostrophes.
NAME = (
    st.text(alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZÀÂÇÉÈÊËÎÏÔÙÛÜabcdeéèàçôï-' "), min_size=1, max_size=40)
    .map(lambda s: " ".join(s.split()) or "X")
    .filter(lambda s: s.strip("-' ") != "")
)
TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)


@st.composite
def specs(draw: st.DrawFn) -> CdaSpec:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    gender = draw(st.sampled_from(list(Gender)))
    ins = Ins(draw(st.sampled_from(list(InsSystem))), make_nir(gender, born, "75056", draw(st.integers(1, 999))))
    version = draw(st.integers(1, 50))
    return CdaSpec(
        kind=draw(st.sampled_from(["vsm", "dlu"])),
        document_oid=f"2.25.{draw(st.integers(1, 2**128))}",
        set_oid=f"2.25.{draw(st.integers(1, 2**128))}",
        version=version,
        effective_time=draw(TIMES),
        patient_ins=ins,
        patient_family=draw(NAME),
        patient_given=draw(NAME),
        patient_birth_date=born,
        patient_gender=gender.value,
        author=CdaAuthorIn(
            rpps=draw(st.from_regex(r"[0-9]{11}", fullmatch=True)),
            family=draw(NAME),
            given=draw(NAME),
            finess=draw(st.none() | st.from_regex(r"[0-9]{2}[0-9]{7}", fullmatch=True)),
            organisation_name=draw(st.none() | NAME),
        ),
        pdf=PDF,
        replaces_oid=f"2.25.{draw(st.integers(1, 2**64))}" if version > 1 else None,
    )


@settings(max_examples=150, deadline=None)
@given(specs())
def test_the_header_written_is_the_header_read_back(spec: CdaSpec) -> None:
    header = read_header(build_cda(spec))
    assert header.document_id.root == spec.document_oid
    assert (header.type_code, header.type_code_system) == (
        {"vsm": "60591-5", "dlu": "74207-2"}[spec.kind],
        "2.16.840.1.113883.6.1",
    )
    assert header.effective_time == spec.effective_time
    assert header.set_id is not None and header.set_id.root == spec.set_oid
    assert header.version_number == spec.version
    assert header.patient_ins == spec.patient_ins
    assert header.patient_birth_family == spec.patient_family
    assert header.patient_given == spec.patient_given.split()[0]
    assert header.patient_birth_date == spec.patient_birth_date
    [author] = header.authors
    assert (author.rpps, author.family, author.given) == (spec.author.rpps, spec.author.family, spec.author.given)
    assert author.organisation_finess == spec.author.finess
    assert author.time == spec.effective_time
    assert header.legal_authenticator_national_id == "8" + spec.author.rpps
    assert header.service_start == header.service_stop == spec.effective_time
    assert header.non_xml_body == ("application/pdf", PDF)
    assert header.language_code == "fr-FR" and header.confidentiality_code == "N"


def test_a_time_zone_other_than_utc_is_kept_as_the_same_instant() -> None:
    paris = datetime(2026, 7, 14, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    ins = Ins(InsSystem.TEST_NIR, make_nir(Gender.FEMALE, date(1980, 5, 17), "75056", 1))
    spec = CdaSpec(
        "vsm", "2.25.1", "2.25.2", 1, paris, ins, "MARTIN", "CLAIRE", date(1980, 5, 17), "female",
        CdaAuthorIn("10000000011", "MOREAU", "Claire"), PDF,
    )  # fmt: skip
    assert read_header(build_cda(spec)).effective_time == paris
