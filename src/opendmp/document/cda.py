"""Safe reading of the header of an HL7 CDA R2 document as profiled by the French CI-SIS.

The platform reads the header of each CDA deposited (patient, authors, type, dates) to check it
against the submission's metadata; it never trusts the document's XML machinery. The parser
resolves no entity, loads no DTD, touches no network and keeps libxml2's size limits
(`huge_tree=False`); a document with a DOCTYPE is refused outright, which closes XXE and
entity-expansion ("billion laughs") attacks, and a size guard bounds the work. Every refusal is an
`InvalidInput` naming the part at fault: "content" for the XML itself, "cda.<path>" for the header.

Where each field comes from (`hl7:` = urn:hl7-org:v3; paths from /hl7:ClinicalDocument;
PR = hl7:recordTarget/hl7:patientRole, exactly one; AA = hl7:author/hl7:assignedAuthor):

| field | XPath |
|---|---|
| document_id | hl7:id/@root, @extension (required) |
| type_code, type_code_system | hl7:code/@code, @codeSystem (required) |
| title | hl7:title |
| effective_time | hl7:effectiveTime/@value (required) |
| confidentiality_code | hl7:confidentialityCode/@code |
| language_code | hl7:languageCode/@code |
| set_id | hl7:setId/@root, @extension |
| version_number | hl7:versionNumber/@value |
| patient_ins | PR/hl7:id[@root = an INS OID]/@extension |
| patient_birth_family | PR/hl7:patient/hl7:name/hl7:family[@qualifier='BR'], else the first family |
| patient_given | PR/hl7:patient/hl7:name/hl7:given without qualifier (the birth given names), |
|   | else given[@qualifier='BR'] (the first of them), else the first given |
| patient_birth_date | PR/hl7:patient/hl7:birthTime/@value (None when less precise than a day) |
| authors | hl7:author, at least one, each a CdaAuthor: |
| · national_id, rpps | AA/hl7:id[@root='1.2.250.1.71.4.2.1']/@extension |
| · family, given | AA/hl7:assignedPerson/hl7:name/hl7:family, hl7:given (the first of each) |
| · organisation_finess | AA/hl7:representedOrganization/hl7:id[@root='1.2.250.1.71.4.2.2']/@extension |
| · time | hl7:author/hl7:time/@value |
| legal_authenticator_national_id | hl7:legalAuthenticator/hl7:assignedEntity/hl7:id[@root='1.2.250.1.71.4.2.1'] |
|   | /@extension |
| service_start, service_stop | hl7:documentationOf/hl7:serviceEvent/hl7:effectiveTime/hl7:low/@value, |
|   | …/hl7:high/@value: the earliest low and the latest high over all serviceEvents |
| non_xml_body | hl7:component/hl7:nonXMLBody/hl7:text (@mediaType, @representation, content) |
| structured_codes | hl7:component/hl7:structuredBody//hl7:observation/hl7:code (@codeSystem, @code) |

Identifiers (CI-SIS, annexe "Source des données métier pour les professionnels et les structures"):
idNat_PS = "8" + RPPS (or "0" + ADELI) under 1.2.250.1.71.4.2.1; idNat_Struct = "1" + FINESS
(or "3" + SIRET, …) under 1.2.250.1.71.4.2.2. Times are HL7 TS values (YYYY[MM[DD[HH[MM[SS[.F]]]]]]
[+/-ZZZZ]); a time without an offset is French legal time (Europe/Paris).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from lxml import etree

from opendmp.identity.ins import Ins, InsSystem, validate_nir
from opendmp.kit.errors import InvalidInput

HL7_NS = "urn:hl7-org:v3"
_NS = {"hl7": HL7_NS}
_ROOT_TAG = f"{{{HL7_NS}}}ClinicalDocument"

PS_NATIONAL_ID_OID = "1.2.250.1.71.4.2.1"  # idNat_PS: "8" + RPPS, or "0" + ADELI
STRUCTURE_NATIONAL_ID_OID = "1.2.250.1.71.4.2.2"  # idNat_Struct: "1" + FINESS, "3" + SIRET, …
_INS_OIDS = {system.value: system for system in InsSystem}

# libxml2 refuses a single text node above 10 MB without huge_tree: a larger guard would not help.
MAX_CDA_BYTES = 10 * 1024 * 1024
PARIS = ZoneInfo("Europe/Paris")

_RPPS_NATIONAL_ID_RE = re.compile(r"8[0-9]{11}", re.ASCII)
_TS_RE = re.compile(
    r"(?P<digits>[0-9]{4}(?:[0-9]{2}){0,5})(?:\.(?P<fraction>[0-9]{1,4}))?(?P<offset>[+-][0-9]{4})?", re.ASCII
)
_VERSION_RE = re.compile(r"[0-9]{1,9}", re.ASCII)
# The markers of a DTD, in the encodings a CDA may use: refused before libxml2 reads them.
_DTD_MARKERS = tuple(
    marker.encode(encoding) for marker in ("<!DOCTYPE", "<!ENTITY") for encoding in ("utf-8", "utf-16-le", "utf-16-be")
)


@dataclass(frozen=True, slots=True)
class InstanceId:
    """An HL7 II: an OID or UUID root, with an optional extension."""

    root: str
    extension: str | None = None

    def __str__(self) -> str:
        return self.root if self.extension is None else f"{self.root}^{self.extension}"


@dataclass(frozen=True, slots=True)
class CdaAuthor:
    national_id: str | None  # idNat_PS
    rpps: str | None  # the 11-digit RPPS when national_id is "8" + RPPS
    family: str | None
    given: str | None
    organisation_finess: str | None  # when the organisation's idNat_Struct is "1" + FINESS
    time: datetime | None


@dataclass(frozen=True, slots=True)
class CdaHeader:
    document_id: InstanceId
    type_code: str
    type_code_system: str
    title: str | None
    effective_time: datetime
    confidentiality_code: str | None
    language_code: str | None
    set_id: InstanceId | None
    version_number: int | None
    patient_ins: Ins | None
    patient_birth_family: str | None
    patient_given: str | None
    patient_birth_date: date | None
    authors: tuple[CdaAuthor, ...]
    legal_authenticator_national_id: str | None
    service_start: datetime | None
    service_stop: datetime | None
    non_xml_body: tuple[str, bytes] | None  # (mediaType, content)
    structured_codes: tuple[tuple[str, str], ...]  # (codeSystem, code), document order, no repeats


def read_header(data: bytes, *, max_bytes: int = MAX_CDA_BYTES) -> CdaHeader:
    """Read the CI-SIS header of a CDA R2 document, or raise InvalidInput naming what is wrong."""
    root = _parse(data, max_bytes=max_bytes)
    effective = _required(root, "hl7:effectiveTime", "cda.effectiveTime")
    service_start, service_stop = _service_times(root)
    patient_role = _patient_role(root)
    family, given = _patient_names(patient_role)
    return CdaHeader(
        document_id=_instance_id(_required(root, "hl7:id", "cda.id"), "cda.id"),
        type_code=_required_attribute(root, "hl7:code", "code", "cda.code"),
        type_code_system=_required_attribute(root, "hl7:code", "codeSystem", "cda.code"),
        title=_text(root.find("hl7:title", _NS)),
        effective_time=parse_ts(effective.get("value") or "", field="cda.effectiveTime"),
        confidentiality_code=_attribute(root, "hl7:confidentialityCode", "code"),
        language_code=_attribute(root, "hl7:languageCode", "code"),
        set_id=_optional_instance_id(root.find("hl7:setId", _NS), "cda.setId"),
        version_number=_version_number(root),
        patient_ins=_patient_ins(patient_role),
        patient_birth_family=family,
        patient_given=given,
        patient_birth_date=_birth_date(patient_role),
        authors=_authors(root),
        legal_authenticator_national_id=_national_id(
            root.findall("hl7:legalAuthenticator/hl7:assignedEntity/hl7:id", _NS), "cda.legalAuthenticator"
        ),
        service_start=service_start,
        service_stop=service_stop,
        non_xml_body=_non_xml_body(root),
        structured_codes=_structured_codes(root),
    )


def parse_ts(value: str, *, field: str) -> datetime:
    """An HL7 TS as an aware datetime; missing parts are the start of the period, a missing
    offset means Europe/Paris."""
    match = _TS_RE.fullmatch(value.strip())
    if match is None:
        raise InvalidInput(f"{value!r} is not an HL7 timestamp (YYYYMMDDHHMMSS+ZZZZ)", field=field)
    digits, fraction, offset = match["digits"], match["fraction"], match["offset"]
    if fraction is not None and len(digits) != 14:
        raise InvalidInput("fractions of a second need a time down to the second", field=field)
    parts = [int(digits[i : i + 2]) for i in range(4, len(digits), 2)]
    month, day, hour, minute, second = [*parts, *(1, 1, 0, 0, 0)[len(parts) :]]
    tz: timezone | ZoneInfo = PARIS
    if offset is not None:
        hours, minutes = int(offset[1:3]), int(offset[3:5])
        if hours > 23 or minutes > 59:
            raise InvalidInput(f"{offset!r} is not a time-zone offset", field=field)
        sign = -1 if offset[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    microsecond = int(fraction.ljust(6, "0")) if fraction else 0
    try:
        return datetime(int(digits[:4]), month, day, hour, minute, second, microsecond, tzinfo=tz)
    except ValueError as error:
        raise InvalidInput(f"{value!r} is not a valid date and time: {error}", field=field) from None


def _parse(data: bytes, *, max_bytes: int) -> etree._Element:
    if not isinstance(data, bytes):
        raise InvalidInput("a CDA document is read from bytes", field="content")
    if len(data) > max_bytes:
        raise InvalidInput(f"the document exceeds {max_bytes} bytes", field="content")
    if any(marker in data for marker in _DTD_MARKERS):
        raise InvalidInput("a CDA document may not carry a DOCTYPE or entity declarations", field="content")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except (etree.LxmlError, ValueError) as error:
        raise InvalidInput(f"the document is not well-formed XML: {error}", field="content") from None
    if root is None:
        raise InvalidInput("the document is empty", field="content")
    docinfo = root.getroottree().docinfo
    # The byte scan above misses other encodings (UTF-32, EBCDIC): the parsed tree tells for sure.
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InvalidInput("a CDA document may not carry a DOCTYPE or entity declarations", field="content")
    if root.tag != _ROOT_TAG:
        raise InvalidInput(f"the root element is {root.tag!r}, not an HL7 v3 ClinicalDocument", field="content")
    return root


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _attribute(root: etree._Element, path: str, name: str) -> str | None:
    element = root.find(path, _NS)
    if element is None:
        return None
    return element.get(name) or None


def _required(root: etree._Element, path: str, field: str) -> etree._Element:
    element = root.find(path, _NS)
    if element is None:
        raise InvalidInput(f"the header has no {path.replace('hl7:', '')}", field=field)
    return element


def _required_attribute(root: etree._Element, path: str, name: str, field: str) -> str:
    value = _required(root, path, field).get(name)
    if not value:
        raise InvalidInput(f"{path.replace('hl7:', '')} has no @{name}", field=field)
    return value


def _instance_id(element: etree._Element, field: str) -> InstanceId:
    root = element.get("root")
    if not root:
        raise InvalidInput("an identifier needs a @root", field=field)
    return InstanceId(root, element.get("extension") or None)


def _optional_instance_id(element: etree._Element | None, field: str) -> InstanceId | None:
    return None if element is None else _instance_id(element, field)


def _optional_ts(element: etree._Element | None, field: str) -> datetime | None:
    if element is None or element.get("value") is None:
        return None  # absent, or a nullFlavor
    return parse_ts(element.get("value") or "", field=field)


def _version_number(root: etree._Element) -> int | None:
    value = _attribute(root, "hl7:versionNumber", "value")
    if value is None:
        return None
    if not _VERSION_RE.fullmatch(value) or int(value) < 1:
        raise InvalidInput(f"the version number {value!r} is not a positive integer", field="cda.versionNumber")
    return int(value)


def _patient_role(root: etree._Element) -> etree._Element:
    roles = root.findall("hl7:recordTarget/hl7:patientRole", _NS)
    if len(roles) != 1:
        raise InvalidInput(
            f"a CDA document concerns exactly one patient (recordTarget/patientRole), found {len(roles)}",
            field="cda.recordTarget",
        )
    return roles[0]


def _patient_ins(patient_role: etree._Element) -> Ins | None:
    field = "cda.recordTarget.patientRole.id"
    found: set[Ins] = set()
    for identifier in patient_role.findall("hl7:id", _NS):
        system = _INS_OIDS.get(identifier.get("root") or "")
        if system is None:
            continue  # an IPP or another local identifier
        value = identifier.get("extension")
        if not value:
            raise InvalidInput("the INS identifier has no @extension", field=field)
        found.add(Ins(system, validate_nir(value, field=field)))
    if len(found) > 1:
        raise InvalidInput("the patient carries several different INS", field=field)
    return found.pop() if found else None


def _qualifiers(element: etree._Element) -> set[str]:
    return set((element.get("qualifier") or "").split())


def _first_text(candidates: Iterable[etree._Element]) -> str | None:
    for element in candidates:
        text = _text(element)
        if text is not None:
            return text
    return None


def _patient_names(patient_role: etree._Element) -> tuple[str | None, str | None]:
    patient = patient_role.find("hl7:patient", _NS)
    if patient is None:
        return None, None
    families = patient.findall("hl7:name/hl7:family", _NS)
    givens = patient.findall("hl7:name/hl7:given", _NS)
    # CI-SIS: family[@qualifier=BR] is the birth name; a given without qualifier lists the birth
    # given names, given[@qualifier=BR] is the first of them, [@qualifier=CL] the one used.
    family = _first_text(f for f in families if "BR" in _qualifiers(f)) or _first_text(families)
    given = (
        _first_text(g for g in givens if not _qualifiers(g))
        or _first_text(g for g in givens if "BR" in _qualifiers(g))
        or _first_text(givens)
    )
    return family, given


def _birth_date(patient_role: etree._Element) -> date | None:
    element = patient_role.find("hl7:patient/hl7:birthTime", _NS)
    value = None if element is None else element.get("value")
    if value is None or len(value.strip()) < 8:
        return None  # absent, nullFlavor, or only a year or a month: not a date
    return parse_ts(value, field="cda.recordTarget.patientRole.patient.birthTime").date()


def _national_id(identifiers: Iterable[etree._Element], field: str) -> str | None:
    for identifier in identifiers:
        if identifier.get("root") == PS_NATIONAL_ID_OID:
            value = identifier.get("extension")
            if not value:
                raise InvalidInput("the professional's national identifier has no @extension", field=field)
            return value
    return None


def _finess(organisation: etree._Element | None) -> str | None:
    if organisation is None:
        return None
    for identifier in organisation.findall("hl7:id", _NS):
        value = identifier.get("extension") or ""
        if identifier.get("root") == STRUCTURE_NATIONAL_ID_OID and value.startswith("1") and len(value) == 10:
            return value[1:]
    return None


def _authors(root: etree._Element) -> tuple[CdaAuthor, ...]:
    elements = root.findall("hl7:author", _NS)
    if not elements:
        raise InvalidInput("the header names no author", field="cda.author")
    authors = []
    for element in elements:
        assigned = element.find("hl7:assignedAuthor", _NS)
        if assigned is None:
            raise InvalidInput("an author has no assignedAuthor", field="cda.author")
        national_id = _national_id(assigned.findall("hl7:id", _NS), "cda.author.assignedAuthor.id")
        name = assigned.find("hl7:assignedPerson/hl7:name", _NS)
        authors.append(
            CdaAuthor(
                national_id=national_id,
                rpps=national_id[1:] if national_id and _RPPS_NATIONAL_ID_RE.fullmatch(national_id) else None,
                family=None if name is None else _first_text(name.findall("hl7:family", _NS)),
                given=None if name is None else _first_text(name.findall("hl7:given", _NS)),
                organisation_finess=_finess(assigned.find("hl7:representedOrganization", _NS)),
                time=_optional_ts(element.find("hl7:time", _NS), "cda.author.time"),
            )
        )
    return tuple(authors)


def _service_times(root: etree._Element) -> tuple[datetime | None, datetime | None]:
    """The span of all the acts documented: earliest low, latest high (a @value is both)."""
    field = "cda.documentationOf.serviceEvent.effectiveTime"
    starts: list[datetime] = []
    stops: list[datetime] = []
    for interval in root.iterfind("hl7:documentationOf/hl7:serviceEvent/hl7:effectiveTime", _NS):
        point = _optional_ts(interval, field)
        low = _optional_ts(interval.find("hl7:low", _NS), field) or point
        high = _optional_ts(interval.find("hl7:high", _NS), field) or point
        starts += [low] if low else []
        stops += [high] if high else []
    return (min(starts) if starts else None), (max(stops) if stops else None)


NON_XML_BODY_TYPES = frozenset(
    {"application/pdf", "image/jpeg", "image/png", "image/tiff", "text/rtf", "application/rtf", "text/plain"}
)


def _non_xml_body(root: etree._Element) -> tuple[str, bytes] | None:
    field = "cda.nonXMLBody.text"
    text = root.find("hl7:component/hl7:nonXMLBody/hl7:text", _NS)
    if text is None:
        return None
    if text.find("hl7:reference", _NS) is not None and not (text.text or "").strip():
        return None  # only a reference to content elsewhere: never fetched
    # The types CI-SIS allows in a nonXMLBody; anything else is opaque bytes. The declared type
    # ends up in an HTTP header when the body is shown: never copied through as written.
    declared = (text.get("mediaType") or "text/plain").strip().lower()  # the HL7 ED default
    media_type = declared if declared in NON_XML_BODY_TYPES else "application/octet-stream"
    if text.get("compression"):
        raise InvalidInput("compressed non-XML bodies are not accepted", field=field)
    representation = (text.get("representation") or "TXT").upper()
    if representation == "TXT":
        return media_type, (text.text or "").encode("utf-8")
    if representation != "B64":
        raise InvalidInput(f"unknown representation {representation!r} (B64 or TXT)", field=field)
    try:
        content = base64.b64decode("".join((text.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the non-XML body is not valid base64", field=field) from None
    return media_type, content


def _structured_codes(root: etree._Element) -> tuple[tuple[str, str], ...]:
    body = root.find("hl7:component/hl7:structuredBody", _NS)
    if body is None:
        return ()
    codes: dict[tuple[str, str], None] = {}
    for code in body.iterfind(".//hl7:observation/hl7:code", _NS):
        system, value = code.get("codeSystem"), code.get("code")
        if system and value:  # a nullFlavor code names nothing to compare
            codes.setdefault((system, value), None)
    return tuple(codes)


def parse(data: bytes, *, max_bytes: int = MAX_CDA_BYTES) -> etree._Element:
    """The whole document, parsed under the same guards as the header (for rendering its body)."""
    return _parse(data, max_bytes=max_bytes)
