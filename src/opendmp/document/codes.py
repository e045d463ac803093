"""Document type and class codes: the national value set JDV_J66-TypeCode-DMP (108 codes, each
in its own code system) and the class derived from it by ASS_X16 (JDV_J57-ClassCode-DMP).
Packaged as `opendmp/data/dmp_type_codes.csv`; see shared/data/SOURCES.md for provenance."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from opendmp.kit.errors import InvalidInput

LOINC_OID = "2.16.840.1.113883.6.1"
TRE_A05_OID = "1.2.250.1.213.1.1.4.12"
ASTM_OID = "ASTM"  # TRE_A12 declares its identifier as urn:oid:ASTM

# FHIR canonical URLs of the code systems, and the OIDs used in XDS/CDA metadata.
SYSTEM_URLS: dict[str, str] = {
    LOINC_OID: "http://loinc.org",
    TRE_A05_OID: "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire",
    ASTM_OID: "https://mos.esante.gouv.fr/NOS/TRE_A12-NomenclatureASTM/FHIR/TRE-A12-NomenclatureASTM",
}
CLASS_SYSTEM_URL = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
SIGNATURE_CLASS_SYSTEM_URL = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
REIMBURSEMENT_TYPE = "REMB"


@dataclass(frozen=True, slots=True)
class DocumentType:
    code: str
    system_oid: str
    display_fr: str
    class_code: str
    class_display_fr: str

    @property
    def system_url(self) -> str:
        return SYSTEM_URLS[self.system_oid]

    @property
    def class_system_url(self) -> str:
        return SIGNATURE_CLASS_SYSTEM_URL if self.class_code.startswith("urn:oid:") else CLASS_SYSTEM_URL


@cache
def document_types() -> dict[tuple[str, str], DocumentType]:
    text = resources.files("opendmp.data").joinpath("dmp_type_codes.csv").read_text(encoding="utf-8")
    types = {}
    for row in csv.DictReader(io.StringIO(text)):
        entry = DocumentType(
            row["type_code"], row["code_system"], row["display_fr"], row["class_code"], row["class_display_fr"]
        )
        types[(entry.system_oid, entry.code)] = entry
    return types


def _oid_of(system: str) -> str | None:
    """Accept the FHIR URL, `urn:oid:<oid>` or the bare OID of a type code system."""
    for oid, url in SYSTEM_URLS.items():
        if system in (url, oid, f"urn:oid:{oid}"):
            return oid
    return None


def document_type(system: str, code: str, *, field: str = "type") -> DocumentType:
    """The national type code, or InvalidInput: the DMP accepts exactly JDV_J66."""
    oid = _oid_of(system)
    found = document_types().get((oid, code)) if oid else None
    if found is None:
        raise InvalidInput(f"type code {system}|{code} is not in the DMP value set JDV_J66", field=field)
    return found
