"""The CDA R2 document of a VSM or DLU, shaped like the CI-SIS: the header the platform reads back
(document/cda.py: patient INS, author idNat_PS and organisation idNat_Struct, type code, times,
set id and version) and a non-XML body carrying the readable PDF in base64
(docs/decisions/0026: a nonXMLBody, the structured answers travelling as the JSON copy).

templateIds, as far as the public CI-SIS tells: HL7 France's and the CI-SIS header's on every
document; for the VSM the CI-SIS VSM's and IHE PCC Medical Summary's. The DLU's own template was
not at hand: it carries the header templates only."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime

from lxml import etree

from opendmp.document.cda import HL7_NS, PS_NATIONAL_ID_OID, STRUCTURE_NATIONAL_ID_OID
from opendmp.identity.ins import Ins

LOINC_OID = "2.16.840.1.113883.6.1"
HEADER_TEMPLATES = ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1")  # HL7 France, CI-SIS header
KIND_TEMPLATES = {
    "vsm": ("1.2.250.1.213.1.1.1.13", "1.3.6.1.4.1.19376.1.5.3.1.1.2"),  # CI-SIS VSM, IHE PCC Medical Summary
    "dlu": (),
}
TYPE_CODES = {"vsm": ("60591-5", "Synthèse médicale"), "dlu": ("74207-2", "Document de liaison d'urgence")}
TITLES = {"vsm": "Volet de synthèse médicale", "dlu": "Dossier de liaison d'urgence"}
PDF_FORMAT_CODE = "urn:ihe:iti:xds-sd:pdf:2008"  # a PDF in a CDA nonXMLBody (IHE XDS-SD)
GENDER_CODES = {"male": "M", "female": "F"}


@dataclass(frozen=True, slots=True)
class CdaAuthorIn:
    rpps: str
    family: str
    given: str
    finess: str | None = None
    organisation_name: str | None = None


@dataclass(frozen=True, slots=True)
class CdaSpec:
    """What the header says. `document_oid` and `set_oid` are OIDs (2.25.<UUID> when made here);
    `replaces_oid` names the previous version's document id (an RPLC relation)."""

    kind: str
    document_oid: str
    set_oid: str
    version: int
    effective_time: datetime
    patient_ins: Ins
    patient_family: str
    patient_given: str
    patient_birth_date: date
    patient_gender: str
    author: CdaAuthorIn
    pdf: bytes
    replaces_oid: str | None = None


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def build_cda(spec: CdaSpec) -> bytes:
    """The CDA R2 XML, UTF-8, without DOCTYPE (the platform refuses any)."""
    hl7 = f"{{{HL7_NS}}}"

    def el(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
        child = etree.SubElement(parent, hl7 + tag, {k.rstrip("_"): v for k, v in attributes.items()})
        if text is not None:
            child.text = text
        return child

    # lxml-stubs key nsmap by str; None is how lxml names the default namespace.
    root = etree.Element(hl7 + "ClinicalDocument", nsmap={None: HL7_NS})  # type: ignore[dict-item]
    el(root, "realmCode", code="FR")
    el(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for template in (*HEADER_TEMPLATES, *KIND_TEMPLATES[spec.kind]):
        el(root, "templateId", root=template)
    el(root, "id", root=spec.document_oid)
    code, display = TYPE_CODES[spec.kind]
    el(root, "code", code=code, codeSystem=LOINC_OID, codeSystemName="LOINC", displayName=display)
    el(root, "title", TITLES[spec.kind])
    el(root, "effectiveTime", value=_ts(spec.effective_time))
    el(root, "confidentialityCode", code="N", codeSystem="2.16.840.1.113883.5.25")
    el(root, "languageCode", code="fr-FR")
    el(root, "setId", root=spec.set_oid)
    el(root, "versionNumber", value=str(spec.version))

    role = el(el(root, "recordTarget"), "patientRole")
    el(role, "id", root=spec.patient_ins.system.value, extension=spec.patient_ins.value)
    patient = el(role, "patient")
    name = el(patient, "name")
    for given in spec.patient_given.split():
        el(name, "given", given)
    el(name, "family", spec.patient_family, qualifier="BR")
    el(
        patient,
        "administrativeGenderCode",
        code=GENDER_CODES.get(spec.patient_gender, "U"),
        codeSystem="2.16.840.1.113883.5.1",
    )
    el(patient, "birthTime", value=spec.patient_birth_date.strftime("%Y%m%d"))

    def assigned_person(parent: etree._Element) -> None:
        person = el(el(parent, "assignedPerson"), "name")
        el(person, "given", spec.author.given)
        el(person, "family", spec.author.family)

    def organisation(parent: etree._Element, tag: str) -> None:
        if spec.author.finess is None:
            return
        org = el(parent, tag)
        el(org, "id", root=STRUCTURE_NATIONAL_ID_OID, extension="1" + spec.author.finess)
        if spec.author.organisation_name:
            el(org, "name", spec.author.organisation_name)

    author = el(root, "author")
    el(author, "time", value=_ts(spec.effective_time))
    assigned = el(author, "assignedAuthor")
    el(assigned, "id", root=PS_NATIONAL_ID_OID, extension="8" + spec.author.rpps)
    assigned_person(assigned)
    organisation(assigned, "representedOrganization")

    custodian = el(el(el(root, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    if spec.author.finess is not None:
        el(custodian, "id", root=STRUCTURE_NATIONAL_ID_OID, extension="1" + spec.author.finess)
    else:
        el(custodian, "id", nullFlavor="NI")

    legal = el(root, "legalAuthenticator")
    el(legal, "time", value=_ts(spec.effective_time))
    el(legal, "signatureCode", code="S")
    entity = el(legal, "assignedEntity")
    el(entity, "id", root=PS_NATIONAL_ID_OID, extension="8" + spec.author.rpps)
    assigned_person(entity)

    event = el(el(root, "documentationOf"), "serviceEvent")
    times = el(event, "effectiveTime")
    el(times, "low", value=_ts(spec.effective_time))
    el(times, "high", value=_ts(spec.effective_time))

    if spec.replaces_oid is not None:
        parent = el(el(root, "relatedDocument", typeCode="RPLC"), "parentDocument")
        el(parent, "id", root=spec.replaces_oid)
        el(parent, "setId", root=spec.set_oid)
        el(parent, "versionNumber", value=str(spec.version - 1))

    body = el(el(root, "component"), "nonXMLBody")
    el(body, "text", base64.b64encode(spec.pdf).decode("ascii"), mediaType="application/pdf", representation="B64")
    result: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return result
