"""CDA rendered readably and safely: the narrative block maps onto a fixed set of tags without
attributes, every text is escaped, the document's own markup, links and scripts never pass."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from opendmp.web import cda_view
from opendmp.web.record_pages import sniff

FIXTURES = Path(__file__).parent.parent / "fixtures" / "cda"
HL7 = "urn:hl7-org:v3"
ALLOWED_TAGS = {
    "p",
    "li",
    "ul",
    "ol",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
    "caption",
    "sub",
    "sup",
    "span",
    "small",
    "br",
    "div",
}


def _narrative(xml: str) -> str:
    return str(cda_view.narrative(etree.fromstring(f'<text xmlns="{HL7}">{xml}</text>')))


def test_the_narrative_block_keeps_structure_and_drops_every_attribute_link_and_script() -> None:
    html = _narrative(
        '<paragraph styleCode="Bold" onclick="x()">Glycémie <content ID="a">5,4</content></paragraph>'
        '<list listType="ordered"><item>un</item><item>deux</item></list>'
        '<linkHtml href="javascript:alert(1)">voir</linkHtml><script>alert(1)</script>'
        '<table border="1"><tbody><tr><td>HbA1c</td></tr></tbody></table><renderMultiMedia referencedObject="x"/>'
    )
    assert "<p>Glycémie <span>5,4</span></p>" in html
    assert "<ol><li>un</li><li>deux</li></ol>" in html
    assert '<div class="table-scroll"><table><tbody><tr><td>HbA1c</td></tr></tbody></table></div>' in html
    assert "href" not in html and "javascript" not in html and "onclick" not in html and "<script" not in html
    assert "<span>voir</span>" in html and "alert(1)" in html  # the script's text stays inert text


@given(st.text(min_size=1, max_size=200))
def test_any_text_in_a_cda_comes_out_escaped(text: str) -> None:
    element = etree.Element(f"{{{HL7}}}text")
    paragraph = etree.SubElement(element, f"{{{HL7}}}paragraph")
    try:
        paragraph.text = text
        element.tail = None
    except ValueError:  # not representable in XML (control characters): no document can carry it
        return
    html = str(cda_view.narrative(element))
    tags = set(re.findall(r"</?([a-z]+)", html))
    assert tags <= ALLOWED_TAGS
    assert "<" not in html.replace("<p>", "").replace("</p>", "")


def test_the_fixtures_render_their_sections_and_header() -> None:
    bio = cda_view.view((FIXTURES / "cr-bio.xml").read_bytes())
    assert [s.title for s in bio.sections][:2] == ["BIOCHIMIE", "HÉMATOLOGIE"]
    assert bio.patient_name and "ANNE-SOPHIE" in bio.patient_name
    assert any("DUPRÉ-LAFONT" in a for a in bio.authors)
    wrapped = cda_view.view((FIXTURES / "consultation-pdf.xml").read_bytes())
    assert wrapped.body_type == "application/pdf" and wrapped.body_text is None


def test_an_upload_is_typed_by_its_first_bytes_not_by_its_name() -> None:
    assert sniff(b"%PDF-1.7 ...") == "application/pdf"
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0....") == "image/jpeg"
    assert sniff("Compte rendu écrit à la main".encode()) == "text/plain"
    assert sniff(b"MZ\x90\x00\x03\x00\x00\x00\xff\xff") is None
    assert sniff(b"text with a \x00 byte") is None
