"""CDA header reading: what the CI-SIS header says is read exactly, and hostile or malformed XML
is refused with InvalidInput naming the part at fault."""

from __future__ import annotations

import base64
import hashlib
import html
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendmp.document.cda import (
    PARIS,
    CdaAuthor,
    CdaHeader,
    InstanceId,
    parse_ts,
    read_header,
)
from opendmp.document.codes import document_types
from opendmp.identity.ins import Ins, InsSystem, nir_key
from opendmp.kit.errors import InvalidInput

FIXTURES = Path(__file__).parent.parent / "fixtures" / "cda"
CR_BIO = (FIXTURES / "cr-bio.xml").read_bytes()
CONSULTATION_PDF = (FIXTURES / "consultation-pdf.xml").read_bytes()
VSM = (FIXTURES / "vsm.xml").read_bytes()
XXE = (FIXTURES / "xxe.xml").read_bytes()
BILLION_LAUGHS = (FIXTURES / "billion-laughs.xml").read_bytes()

LOINC = "2.16.840.1.113883.6.1"
PARIS_WINTER = timezone(timedelta(hours=1))
PARIS_SUMMER = timezone(timedelta(hours=2))


def replaced(document: bytes, old: str, new: str) -> bytes:
    """The document with one header part changed; fails loudly if the fixture no longer has it."""
    assert old.encode() in document, old
    return document.replace(old.encode(), new.encode())


def refusal(document: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        read_header(document)
    return caught.value


# --- the fixtures: real CI-SIS shapes --------------------------------------------------------


def test_the_biology_report_header_is_read() -> None:
    header = read_header(CR_BIO)

    assert header.document_id == InstanceId("1.2.250.1.213.1.1.9.630781234", "CRBIO-2024-000417")
    assert (header.type_code, header.type_code_system) == ("11502-2", LOINC)
    assert header.title == "Compte rendu d'examens biologiques"
    assert header.effective_time == datetime(2024, 3, 12, 10, 15, tzinfo=PARIS_WINTER)
    assert (header.confidentiality_code, header.language_code) == ("N", "fr-FR")
    assert header.set_id == InstanceId("6F1C5E2A-3B9D-4E70-9C21-7A4D2B8E0F13")
    assert str(header.set_id) == "6F1C5E2A-3B9D-4E70-9C21-7A4D2B8E0F13"
    assert header.version_number == 1
    assert header.patient_ins == Ins(InsSystem.TEST_NIR, "279036322012369")
    assert header.patient_birth_date == date(1979, 3, 15)
    assert header.authors == (
        CdaAuthor(
            national_id="810003456789",
            rpps="10003456789",
            family="DUPRÉ-LAFONT",
            given="Hélène",
            organisation_finess="630781234",
            time=datetime(2024, 3, 12, 9, 45, tzinfo=PARIS_WINTER),
        ),
    )
    assert header.legal_authenticator_national_id == "810003456789"
    assert header.service_start == datetime(2024, 3, 11, 7, 30, tzinfo=PARIS_WINTER)
    assert header.service_stop == datetime(2024, 3, 12, 9, 40, tzinfo=PARIS_WINTER)
    assert header.non_xml_body is None


def test_the_birth_name_and_birth_given_names_are_read_not_the_used_ones() -> None:
    header = read_header(CR_BIO)

    assert header.patient_birth_family == "LEFÈVRE"  # family[@qualifier=BR], not the used MARTIN
    assert header.patient_given == "ANNE-SOPHIE MARIE"  # all the birth given names


def test_structured_codes_are_the_observation_codes_of_the_body_in_order_without_repeats() -> None:
    # Section, act and organizer codes are not exams; a nullFlavor code names nothing; the
    # control glycaemia (14749-6 again) counts once.
    assert read_header(CR_BIO).structured_codes == (
        (LOINC, "14749-6"),
        (LOINC, "14682-9"),
        (LOINC, "62238-1"),
        (LOINC, "4548-4"),
        (LOINC, "718-7"),
        (LOINC, "6690-2"),
    )


def test_the_pdf_wrapped_in_a_non_xml_body_is_decoded() -> None:
    header = read_header(CONSULTATION_PDF)

    assert header.non_xml_body is not None
    media_type, content = header.non_xml_body
    assert media_type == "application/pdf"
    assert hashlib.sha256(content).hexdigest() == "7d5371d3d9d5588cdb4c7851773488380aa8e9644001ad32ba5dad8084272746"
    assert content.startswith(b"%PDF-1.4\n") and content.endswith(b"%%EOF\n")
    startxref = int(content.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    assert content[startxref:].startswith(b"xref\n")  # the cross-reference table is where it says
    assert header.structured_codes == ()


def test_the_ins_is_read_among_several_patient_identifiers() -> None:
    assert read_header(CONSULTATION_PDF).patient_ins == Ins(InsSystem.TEST_NIR, "185117505604271")


def test_an_adeli_author_has_no_rpps_and_a_siret_organisation_no_finess() -> None:
    (author,) = read_header(CONSULTATION_PDF).authors

    assert author.national_id == "0751234567"
    assert author.rpps is None
    assert author.organisation_finess is None
    assert (author.family, author.given) == ("L'HÔTE", "François")


def test_a_time_without_offset_is_french_legal_time() -> None:
    header = read_header(CONSULTATION_PDF)

    assert header.effective_time == datetime(2024, 7, 5, 14, 30, tzinfo=PARIS_SUMMER)
    assert header.effective_time.utcoffset() == timedelta(hours=2)
    assert header.authors[0].time == datetime(2024, 7, 5, tzinfo=PARIS_SUMMER)  # day precision


def test_a_service_event_without_high_has_no_stop() -> None:
    header = read_header(CONSULTATION_PDF)

    assert header.service_start == datetime(2024, 7, 5, 14, tzinfo=PARIS_SUMMER)
    assert header.service_stop is None


def test_the_medical_synthesis_header_is_read_with_all_its_authors() -> None:
    header = read_header(VSM)

    assert (header.type_code, header.type_code_system) == ("SYNTH", "1.2.250.1.213.1.1.4.12")
    assert header.document_id == InstanceId("2.25.181472304567310298147720113985742365521")
    assert str(header.set_id) == "2.25.181472304567310298147720113985742365520^VSM"
    assert header.version_number == 3
    assert header.patient_ins == Ins(InsSystem.TEST_NIR, "155052A00401780")  # born in Corse-du-Sud
    assert (header.patient_birth_family, header.patient_given) == ("CASANOVA", "JEAN-BAPTISTE ANTOINE")
    assert [(a.rpps, a.family, a.given, a.organisation_finess) for a in header.authors] == [
        ("10101234567", "LE GOFF", "Élodie", "2A0001234"),
        ("10107654321", "N'DIAYE", "Maëlle", "2A0001234"),
    ]
    assert header.service_start == datetime(2023, 2, 1, tzinfo=PARIS_WINTER)
    assert header.service_stop == datetime(2024, 2, 1, tzinfo=PARIS_WINTER)
    assert header.structured_codes == (("2.16.840.1.113883.6.96", "55607006"), ("2.16.840.1.113883.5.4", "ALG"))


# --- hostile XML ------------------------------------------------------------------------------


def test_a_cda_with_a_doctype_is_refused() -> None:
    error = refusal(XXE)

    assert error.field == "content"
    assert "DOCTYPE" in error.message
    assert "root:" not in error.message  # nothing of /etc/passwd leaks into the answer


def test_a_billion_laughs_document_is_refused_without_expanding_its_entities() -> None:
    started = time.perf_counter()
    error = refusal(BILLION_LAUGHS)

    assert error.field == "content"
    assert "DOCTYPE" in error.message
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_a_doctype_is_refused_whatever_the_encoding(encoding: str) -> None:
    text = CR_BIO.decode().replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"', 1)
    with_doctype = text.replace(
        "<ClinicalDocument ", '<!DOCTYPE ClinicalDocument [<!ENTITY x "y">]>\n<ClinicalDocument ', 1
    )
    assert read_header(text.encode(encoding)).type_code == "11502-2"  # the encoding itself is fine

    assert refusal(with_doctype.encode(encoding)).field == "content"


def test_a_doctype_without_declarations_is_refused() -> None:
    assert refusal(replaced(CR_BIO, "<ClinicalDocument ", "<!DOCTYPE ClinicalDocument>\n<ClinicalDocument ")).field == (
        "content"
    )


@pytest.mark.parametrize(
    "content",
    [b"", b"%PDF-1.4\n", b"ClinicalDocument", b"<ClinicalDocument xmlns='urn:hl7-org:v3'>", b"\xff\xfe\x00<"],
)
def test_content_that_is_not_xml_is_refused(content: bytes) -> None:
    assert refusal(content).field == "content"


@pytest.mark.parametrize(
    "content",
    [
        b"<ClinicalDocument><title>sans espace de noms</title></ClinicalDocument>",
        b"<Bundle xmlns='http://hl7.org/fhir'><type value='document'/></Bundle>",
        b"<hl7:Observation xmlns:hl7='urn:hl7-org:v3'/>",
    ],
)
def test_a_root_other_than_an_hl7_clinical_document_is_refused(content: bytes) -> None:
    error = refusal(content)

    assert error.field == "content"
    assert "ClinicalDocument" in error.message


def test_a_document_above_the_size_guard_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidInput) as caught:
        read_header(CR_BIO, max_bytes=len(CR_BIO) - 1)
    assert caught.value.field == "content"

    assert read_header(CR_BIO, max_bytes=len(CR_BIO)).type_code == "11502-2"


def test_nesting_deeper_than_libxml2_allows_is_refused() -> None:
    deep = b"<ClinicalDocument xmlns='urn:hl7-org:v3'>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</ClinicalDocument>"
    assert refusal(deep).field == "content"


# --- malformed headers ------------------------------------------------------------------------


def test_a_document_without_a_patient_is_refused() -> None:
    start, end = CR_BIO.index(b"<recordTarget>"), CR_BIO.index(b"</recordTarget>") + len(b"</recordTarget>")
    assert refusal(CR_BIO[:start] + CR_BIO[end:]).field == "cda.recordTarget"


def test_a_document_for_two_patients_is_refused() -> None:
    start, end = CR_BIO.index(b"<recordTarget>"), CR_BIO.index(b"</recordTarget>") + len(b"</recordTarget>")
    twice = CR_BIO[:end] + CR_BIO[start:end] + CR_BIO[end:]
    assert refusal(twice).field == "cda.recordTarget"


def test_an_ins_with_a_wrong_key_is_refused_naming_the_patient_identifier() -> None:
    error = refusal(replaced(CR_BIO, 'extension="279036322012369"', 'extension="279036322012368"'))
    assert error.field == "cda.recordTarget.patientRole.id"


def test_two_different_ins_for_the_patient_are_refused() -> None:
    first = '<id root="1.2.250.1.213.1.4.10" extension="279036322012369"/>'
    second = f'<id root="1.2.250.1.213.1.4.8" extension="1851175056042{nir_key("1851175056042"):02d}"/>'
    document = replaced(CR_BIO, first, first + second)
    assert refusal(document).field == "cda.recordTarget.patientRole.id"


def test_a_patient_known_only_by_a_local_identifier_has_no_ins() -> None:
    document = replaced(CR_BIO, '<id root="1.2.250.1.213.1.4.10" extension="279036322012369"/>', "")
    assert read_header(document).patient_ins is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('<code code="11502-2" codeSystem="2.16.840.1.113883.6.1"', '<code codeSystem="2.16.840.1.113883.6.1"'),
        ('code="11502-2" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"', 'code="11502-2"'),
        ('<code code="11502-2"', '<codeX code="11502-2"'),
    ],
)
def test_a_document_without_a_full_type_code_is_refused(old: str, new: str) -> None:
    assert refusal(replaced(CR_BIO, old, new)).field == "cda.code"


@pytest.mark.parametrize(
    "value",
    ["2024-03-12T10:15:00+01:00", "20241312101500+0100", "20240230", "202403121015+2500", "2024031", "", "２０２４"],
)
def test_an_effective_time_that_is_not_an_hl7_timestamp_is_refused(value: str) -> None:
    document = replaced(CR_BIO, '<effectiveTime value="20240312101500+0100"/>', f'<effectiveTime value="{value}"/>')
    assert refusal(document).field == "cda.effectiveTime"


def test_a_document_without_effective_time_is_refused() -> None:
    document = replaced(CR_BIO, '<effectiveTime value="20240312101500+0100"/>', "")
    assert refusal(document).field == "cda.effectiveTime"


def test_a_document_without_an_identifier_is_refused() -> None:
    document = replaced(CR_BIO, '<id root="1.2.250.1.213.1.1.9.630781234" extension="CRBIO-2024-000417"/>', "")
    assert refusal(document).field == "cda.id"


def test_a_document_without_an_author_is_refused() -> None:
    start, end = CR_BIO.index(b"<author>"), CR_BIO.index(b"</author>") + len(b"</author>")
    assert refusal(CR_BIO[:start] + CR_BIO[end:]).field == "cda.author"


@pytest.mark.parametrize("value", ["un", "0", "-1", "1.5"])
def test_a_version_number_that_is_not_a_positive_integer_is_refused(value: str) -> None:
    document = replaced(CR_BIO, '<versionNumber value="1"/>', f'<versionNumber value="{value}"/>')
    assert refusal(document).field == "cda.versionNumber"


@pytest.mark.parametrize(
    "declared", ["text/html", "image/svg+xml", "text/plain\r\nX-Injected: 1", "application/x-evil"]
)
def test_a_non_xml_body_of_an_unexpected_type_is_opaque_bytes(declared: str) -> None:
    """Its declared type reaches an HTTP header when shown: only the CI-SIS types pass through."""
    escaped = declared.replace("\r", "&#13;").replace("\n", "&#10;")
    header = read_header(replaced(CONSULTATION_PDF, 'mediaType="application/pdf"', f'mediaType="{escaped}"'))
    assert header.non_xml_body is not None
    assert header.non_xml_body[0] == "application/octet-stream"


def test_a_non_xml_body_that_is_not_base64_is_refused() -> None:
    document = replaced(CONSULTATION_PDF, 'representation="B64">', 'representation="B64">%%PDF pas du base64 ')
    assert refusal(document).field == "cda.nonXMLBody.text"


def test_a_partial_birth_date_is_no_date() -> None:
    assert (
        read_header(replaced(CR_BIO, '<birthTime value="19790315"/>', '<birthTime value="1979"/>')).patient_birth_date
        is None
    )


def test_missing_optional_parts_are_none() -> None:
    header = read_header(build_cda(HeaderSpec.minimal()))

    assert header.title is None
    assert header.set_id is None
    assert header.version_number is None
    assert header.confidentiality_code is None
    assert header.language_code is None
    assert header.patient_ins is None
    assert (header.patient_birth_family, header.patient_given, header.patient_birth_date) == (None, None, None)
    assert header.authors == (CdaAuthor(None, None, None, None, None, None),)
    assert header.legal_authenticator_national_id is None
    assert (header.service_start, header.service_stop) == (None, None)
    assert header.non_xml_body is None
    assert header.structured_codes == ()


def test_hl7_timestamps_of_every_precision_are_read() -> None:
    assert parse_ts("2024", field="t") == datetime(2024, 1, 1, tzinfo=PARIS)
    assert parse_ts("202403", field="t") == datetime(2024, 3, 1, tzinfo=PARIS)
    assert parse_ts("202403121015", field="t") == datetime(2024, 3, 12, 10, 15, tzinfo=PARIS_WINTER)
    assert parse_ts("20240312101530.25-0330", field="t") == datetime(
        2024, 3, 12, 10, 15, 30, 250000, tzinfo=timezone(-timedelta(hours=3, minutes=30))
    )
    assert parse_ts("20240312+0000", field="t") == datetime(2024, 3, 12, tzinfo=UTC)


# --- generated headers ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorSpec:
    rpps: str | None = None
    family: str | None = None
    given: str | None = None
    finess: str | None = None
    time: datetime | None = None


@dataclass(frozen=True)
class HeaderSpec:
    document_id: InstanceId
    type_code: tuple[str, str]
    effective_time: datetime
    authors: tuple[AuthorSpec, ...]
    title: str | None = None
    confidentiality: str | None = None
    language: str | None = None
    set_id: InstanceId | None = None
    version: int | None = None
    ins: Ins | None = None
    birth_family: str | None = None
    given: str | None = None
    birth_date: date | None = None
    legal_authenticator_rpps: str | None = None
    service_start: datetime | None = None
    service_stop: datetime | None = None
    non_xml_body: tuple[str, bytes] | None = None
    codes: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def minimal(cls) -> HeaderSpec:
        return cls(
            InstanceId("1.2.250.1.213.1.1.9"), ("11488-4", LOINC), datetime(2024, 1, 1, tzinfo=UTC), (AuthorSpec(),)
        )

    def expected(self) -> CdaHeader:
        return CdaHeader(
            document_id=self.document_id,
            type_code=self.type_code[0],
            type_code_system=self.type_code[1],
            title=self.title,
            effective_time=self.effective_time,
            confidentiality_code=self.confidentiality,
            language_code=self.language,
            set_id=self.set_id,
            version_number=self.version,
            patient_ins=self.ins,
            patient_birth_family=self.birth_family,
            patient_given=self.given,
            patient_birth_date=self.birth_date,
            authors=tuple(
                CdaAuthor(
                    national_id=f"8{a.rpps}" if a.rpps else None,
                    rpps=a.rpps,
                    family=a.family,
                    given=a.given,
                    organisation_finess=a.finess,
                    time=a.time,
                )
                for a in self.authors
            ),
            legal_authenticator_national_id=f"8{self.legal_authenticator_rpps}"
            if self.legal_authenticator_rpps
            else None,
            service_start=self.service_start,
            service_stop=self.service_stop,
            non_xml_body=self.non_xml_body,
            structured_codes=() if self.non_xml_body else self.codes,
        )


def ts(value: datetime) -> str:
    offset = value.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{value:%Y%m%d%H%M%S}{sign}{minutes // 60:02d}{minutes % 60:02d}"


def x(text: str) -> str:
    return html.escape(text, quote=True)


def ii(tag: str, identifier: InstanceId) -> str:
    extension = f' extension="{x(identifier.extension)}"' if identifier.extension is not None else ""
    return f'<{tag} root="{x(identifier.root)}"{extension}/>'


def element(tag: str, text: str | None) -> str:
    return "" if text is None else f"<{tag}>{x(text)}</{tag}>"


def build_cda(spec: HeaderSpec) -> bytes:
    """A CI-SIS-shaped CDA carrying exactly the values of the spec."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode code="FR"/>',
        '<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>',
        ii("id", spec.document_id),
        f'<code code="{x(spec.type_code[0])}" codeSystem="{x(spec.type_code[1])}"/>',
        element("title", spec.title),
        f'<effectiveTime value="{ts(spec.effective_time)}"/>',
        f'<confidentialityCode code="{spec.confidentiality}" codeSystem="2.16.840.1.113883.5.25"/>'
        if spec.confidentiality
        else "",
        f'<languageCode code="{spec.language}"/>' if spec.language else "",
        ii("setId", spec.set_id) if spec.set_id else "",
        f'<versionNumber value="{spec.version}"/>' if spec.version is not None else "",
        "<recordTarget><patientRole>",
        '<id root="1.2.250.1.213.1.1.9.99" extension="IPP-1"/>',
        f'<id root="{spec.ins.system.value}" extension="{spec.ins.value}"/>' if spec.ins else "",
        "<patient><name>",
        f'<family qualifier="BR">{x(spec.birth_family)}</family>' if spec.birth_family else "",
        element("given", spec.given),
        "</name>",
        f'<birthTime value="{spec.birth_date:%Y%m%d}"/>' if spec.birth_date else '<birthTime nullFlavor="UNK"/>',
        "</patient></patientRole></recordTarget>",
    ]
    for author in spec.authors:
        parts += [
            "<author>",
            f'<time value="{ts(author.time)}"/>' if author.time else '<time nullFlavor="UNK"/>',
            "<assignedAuthor>",
            f'<id root="1.2.250.1.71.4.2.1" extension="8{author.rpps}"/>' if author.rpps else '<id nullFlavor="UNK"/>',
            "<assignedPerson><name>",
            element("given", author.given),
            element("family", author.family),
            "</name></assignedPerson>",
            f'<representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1{author.finess}"/>'
            "</representedOrganization>"
            if author.finess
            else "",
            "</assignedAuthor></author>",
        ]
    if spec.legal_authenticator_rpps:
        parts.append(
            '<legalAuthenticator><signatureCode code="S"/><assignedEntity>'
            f'<id root="1.2.250.1.71.4.2.1" extension="8{spec.legal_authenticator_rpps}"/>'
            "</assignedEntity></legalAuthenticator>"
        )
    if spec.service_start or spec.service_stop:
        parts += [
            "<documentationOf><serviceEvent><effectiveTime>",
            f'<low value="{ts(spec.service_start)}"/>' if spec.service_start else "",
            f'<high value="{ts(spec.service_stop)}"/>' if spec.service_stop else "",
            "</effectiveTime></serviceEvent></documentationOf>",
        ]
    if spec.non_xml_body:
        media_type, content = spec.non_xml_body
        encoded = base64.encodebytes(content).decode()
        parts.append(
            f'<component><nonXMLBody><text mediaType="{x(media_type)}" representation="B64">{encoded}'
            "</text></nonXMLBody></component>"
        )
    else:
        parts.append("<component><structuredBody><component><section><entry><organizer>")
        for system, code in spec.codes:
            parts.append(
                f'<component><observation><code code="{x(code)}" codeSystem="{x(system)}"/></observation></component>'
            )
        parts.append("</organizer></entry></section></component></structuredBody></component>")
    parts.append("</ClinicalDocument>")
    return "\n".join(parts).encode("utf-8")


# French names: accents, ligatures, apostrophes (straight and typographic), hyphens, and the
# characters XML must escape.
NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZàâäçéèêëîïôöùûüÿœæÀÂÇÉÈÊËÎÏÔŒÙÛÜ'’- &<>\""
names = st.text(NAME_ALPHABET, min_size=1, max_size=40).filter(lambda s: s == s.strip() and bool(s))
offsets = st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
instants = st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2099, 12, 31), timezones=offsets).map(
    lambda value: value.replace(microsecond=0)
)
departments = st.one_of(
    st.integers(1, 95).map(lambda d: f"{d:02d}").filter(lambda d: d != "20"), st.sampled_from(["2A", "2B", "99"])
)
nir13s = st.builds(
    lambda sex, year, month, dep, commune, order: f"{sex}{year:02d}{month:02d}{dep}{commune:03d}{order:03d}",
    st.sampled_from([1, 2]),
    st.integers(0, 99),
    st.integers(1, 12),
    departments,
    st.integers(1, 999),
    st.integers(1, 999),
)
ins_values = st.builds(
    lambda system, nir13: Ins(system, f"{nir13}{nir_key(nir13):02d}"), st.sampled_from(InsSystem), nir13s
)
rpps_numbers = st.from_regex(r"[0-9]{11}", fullmatch=True)
finess_numbers = st.from_regex(r"(?:[0-9]{2}|2A|2B)[0-9]{7}", fullmatch=True)
oids = st.from_regex(r"[12](?:\.[1-9][0-9]{0,5}){2,8}", fullmatch=True)
extensions = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S"]), min_size=1, max_size=30)
type_codes = st.sampled_from(sorted((t.code, t.system_oid) for t in document_types().values()))
loinc_codes = st.from_regex(r"[1-9][0-9]{0,5}-[0-9]", fullmatch=True).map(lambda code: (LOINC, code))
authors = st.builds(
    AuthorSpec,
    rpps=st.none() | rpps_numbers,
    family=st.none() | names,
    given=st.none() | names,
    finess=st.none() | finess_numbers,
    time=st.none() | instants,
)
header_specs = st.builds(
    HeaderSpec,
    document_id=st.builds(InstanceId, oids, st.none() | extensions),
    type_code=type_codes,
    effective_time=instants,
    authors=st.lists(authors, min_size=1, max_size=3).map(tuple),
    title=st.none() | names,
    confidentiality=st.none() | st.sampled_from(["N", "R", "V"]),
    language=st.none() | st.just("fr-FR"),
    set_id=st.none() | st.builds(InstanceId, st.uuids().map(str), st.none() | extensions),
    version=st.none() | st.integers(1, 10**6),
    ins=st.none() | ins_values,
    birth_family=st.none() | names,
    given=st.none() | names,
    birth_date=st.none() | st.dates(date(1900, 1, 1), date(2026, 12, 31)),
    legal_authenticator_rpps=st.none() | rpps_numbers,
    service_start=st.none() | instants,
    service_stop=st.none() | instants,
    non_xml_body=st.none()
    | st.tuples(st.sampled_from(["application/pdf", "image/jpeg", "image/tiff", "text/rtf"]), st.binary(max_size=300)),
    codes=st.lists(loinc_codes, max_size=8, unique=True).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(header_specs)
def test_read_header_returns_exactly_the_values_written_in_the_header(spec: HeaderSpec) -> None:
    header = read_header(build_cda(spec))

    assert header == spec.expected()
    # Equal instants are not enough: the offset written is the offset read.
    assert header.effective_time.utcoffset() == spec.effective_time.utcoffset()
    for author, written in zip(header.authors, spec.authors, strict=True):
        assert (author.time and author.time.utcoffset()) == (written.time and written.time.utcoffset())


@given(st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2099, 12, 31)))
def test_a_time_without_offset_is_the_same_wall_clock_time_in_paris(local: datetime) -> None:
    local = local.replace(microsecond=0)
    read = parse_ts(f"{local:%Y%m%d%H%M%S}", field="t")

    assert read.replace(tzinfo=None) == local
    assert read.utcoffset() in (timedelta(hours=1), timedelta(hours=2))


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_nothing_but_invalid_input(content: bytes) -> None:
    try:
        read_header(content)
    except InvalidInput as error:
        assert error.field == "content"  # random bytes never get as far as a header


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([CR_BIO, CONSULTATION_PDF, VSM]),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 40), st.binary(max_size=12)), min_size=1, max_size=4),
)
def test_a_damaged_document_is_read_or_refused_with_invalid_input(
    document: bytes, damages: list[tuple[float, int, bytes]]
) -> None:
    for where, cut, inserted in damages:
        at = int(where * len(document))
        document = document[:at] + inserted + document[at + cut :]
    try:
        header = read_header(document)
    except InvalidInput as error:
        assert error.field == "content" or (error.field or "").startswith("cda.")
    else:
        assert isinstance(header, CdaHeader)
