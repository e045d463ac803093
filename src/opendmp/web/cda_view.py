"""A CDA R2 document rendered readably, on the server: the header (patient, authors, dates,
type) and the body's section titles and narrative text, or what a non-XML body wraps.

Nothing of the document's own machinery runs: no XSLT, no stylesheet, no link, no script. The
narrative block's elements are mapped onto a fixed set of HTML tags without any attribute, and
every text is escaped; unknown elements keep only their text. The XML is parsed by
`document.cda` (no DTD, no entity, no network, size-guarded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree
from markupsafe import Markup, escape

from opendmp.document import cda

_NS = {"hl7": cda.HL7_NS}
# CDA narrative block (the `StrucDoc.Text` of the R2 schema) → the HTML shown; no attribute kept.
_TAGS = {
    "paragraph": "p",
    "item": "li",
    "table": "table",
    "thead": "thead",
    "tbody": "tbody",
    "tfoot": "tfoot",
    "tr": "tr",
    "th": "th",
    "td": "td",
    "caption": "caption",
    "sub": "sub",
    "sup": "sup",
    "content": "span",
    "linkHtml": "span",  # the text of a link, never the link itself
    "footnote": "small",
    "footnoteRef": "small",
}
MAX_DEPTH = 40  # nesting beyond this is flattened to text: bounded recursion on hostile input


@dataclass(frozen=True, slots=True)
class Section:
    title: str | None
    body: Markup
    level: int  # 2 for a top-level section (the page's h1 is the document's title)


@dataclass(frozen=True, slots=True)
class CdaView:
    title: str | None
    type_display: str | None
    effective_time: datetime | None
    patient_name: str | None
    patient_birth_date: date | None
    authors: list[str]
    custodian: str | None
    service_start: datetime | None
    service_stop: datetime | None
    sections: list[Section] = field(default_factory=list)
    # A non-XML body: its media type and, for text, the text itself (other types are served
    # apart, sandboxed, like any document content).
    body_type: str | None = None
    body_text: str | None = None


def _local(element: etree._Element) -> str | None:
    return etree.QName(element).localname if isinstance(element.tag, str) else None


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    text = " ".join("".join(str(t) for t in element.itertext()).split())
    return text or None


def _name(element: etree._Element | None) -> str | None:
    """An HL7 PN: prefix, given names, family names, in reading order."""
    if element is None:
        return None
    parts = [
        _text(part)
        for part in element
        if _local(part) in ("prefix", "given", "family", "suffix") and _text(part) is not None
    ]
    return " ".join(p for p in parts if p) or _text(element)


def narrative(element: etree._Element, depth: int = 0) -> Markup:
    """The narrative block of a section as HTML: known tags mapped, all text escaped."""
    out: list[str] = [str(escape(element.text or ""))]
    for child in element:
        name = _local(child)
        if name is not None:
            if name == "br":
                out.append("<br>")
            elif name == "renderMultiMedia":
                out.append("<span>[image]</span>")
            elif depth >= MAX_DEPTH:
                out.append(str(escape(" ".join("".join(str(t) for t in child.itertext()).split()))))
            else:
                tag = _TAGS.get(name)
                if name == "list":
                    tag = "ol" if (child.get("listType") or "").lower() == "ordered" else "ul"
                inner = narrative(child, depth + 1)
                if tag == "table":
                    out.append(f'<div class="table-scroll"><table>{inner}</table></div>')
                elif tag is None:
                    out.append(str(inner))
                else:
                    out.append(f"<{tag}>{inner}</{tag}>")
        out.append(str(escape(child.tail or "")))
    return Markup("".join(out))  # noqa: S704 - built only from escaped text and the fixed tags above


def _sections(parent: etree._Element, level: int, into: list[Section]) -> None:
    for section in parent.iterfind("hl7:component/hl7:section", _NS):
        text = section.find("hl7:text", _NS)
        into.append(
            Section(
                title=_text(section.find("hl7:title", _NS)),
                body=narrative(text) if text is not None else Markup(""),
                level=min(level, 6),
            )
        )
        _sections(section, level + 1, into)


def view(data: bytes) -> CdaView:
    """The document as the viewer shows it; `InvalidInput` when it is not a readable CDA."""
    header = cda.read_header(data)
    root = cda.parse(data)
    authors = []
    for author in root.iterfind("hl7:author/hl7:assignedAuthor", _NS):
        person = _name(author.find("hl7:assignedPerson/hl7:name", _NS))
        organisation = _text(author.find("hl7:representedOrganization/hl7:name", _NS))
        device = _text(author.find("hl7:assignedAuthoringDevice/hl7:softwareName", _NS))
        shown = ", ".join(p for p in (person or device, organisation) if p)
        if shown:
            authors.append(shown)
    code = root.find("hl7:code", _NS)
    sections: list[Section] = []
    body = root.find("hl7:component/hl7:structuredBody", _NS)
    if body is not None:
        _sections(body, 2, sections)
    body_type = body_text = None
    if header.non_xml_body is not None:
        body_type, content = header.non_xml_body
        if body_type.startswith("text/"):
            body_text = content.decode("utf-8", errors="replace")
    return CdaView(
        title=header.title,
        type_display=code.get("displayName") if code is not None else None,
        effective_time=header.effective_time,
        patient_name=" ".join(p for p in (header.patient_given, header.patient_birth_family) if p) or None,
        patient_birth_date=header.patient_birth_date,
        authors=authors,
        custodian=_text(
            root.find("hl7:custodian/hl7:assignedCustodian/hl7:representedCustodianOrganization/hl7:name", _NS)
        ),
        service_start=header.service_start,
        service_stop=header.service_stop,
        sections=sections,
        body_type=body_type,
        body_text=body_text,
    )
