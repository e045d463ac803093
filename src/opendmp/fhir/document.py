"""DocumentReference <-> the document model, following IHE MHD as profiled by the French PDSm
guide: type and class from the national value sets, visibility flags as security labels of
TRE_A07, the archived state as the PDSm_isArchived extension, authors as logical references
by national identifier (idNat_PS, idNat_Struct) or contained resources."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opendmp.document import codes
from opendmp.document.models import AuthorKind, Document, DocumentAuthor
from opendmp.identity.ins import Ins, parse_ins
from opendmp.journal.service import iso
from opendmp.kit.errors import InvalidInput
from opendmp.kit.ids import parse_id

VISIBILITY_SYSTEM = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument"
)
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ARCHIVED_EXTENSION = "http://esante.gouv.fr/cisis/fhir/StructureDefinition/PDSm_isArchived"
PROFESSIONAL_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"  # idNat_PS: "8" + RPPS
STRUCTURE_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"  # idNat_Struct: "1" + FINESS
URI_SYSTEM = "urn:ietf:rfc:3986"
MASQUE_PS = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_REPRESENTANTS_LEGAUX = "INVISIBLE_REPRESENTANTS_LEGAUX"
VISIBILITY_CODES = (MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX)
CONFIDENTIALITY_CODES = frozenset({"N", "R", "V"})


@dataclass(frozen=True, slots=True)
class AuthorIn:
    kind: AuthorKind
    rpps: str | None = None
    finess: str | None = None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """The patient a document is about: a record id (`Patient/<id>`) or an INS."""

    record_id: uuid.UUID | None = None
    ins: Ins | None = None


@dataclass(slots=True)
class DocumentIn:
    """A submitted DocumentReference, parsed. Content comes separately (inline data or a Binary)."""

    subject: SubjectRef
    type_system: str | None
    type_code: str | None
    unique_id: str | None = None
    title: str | None = None
    category_code: str | None = None
    format_code: str | None = None
    mime_type: str | None = None
    language: str | None = None
    size: int | None = None
    sha1: bytes | None = None
    created_at: datetime | None = None
    service_start: datetime | None = None
    service_stop: datetime | None = None
    confidentiality: str | None = None
    visibility: frozenset[str] = frozenset()
    authors: tuple[AuthorIn, ...] = ()
    legal_authenticator: str | None = None
    replaces: uuid.UUID | None = None
    content_url: str | None = None  # a Binary's fullUrl inside a bundle
    data: bytes | None = None  # inline attachment.data
    extra: dict[str, Any] = field(default_factory=dict)


def _coding(concept: Any, field_name: str) -> tuple[str | None, str | None]:
    if concept is None:
        return None, None
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list) or not codings or not isinstance(codings[0], dict):
        raise InvalidInput(f"{field_name} must be a CodeableConcept with a coding", field=field_name)
    first = codings[0]
    system, code = first.get("system"), first.get("code")
    if not isinstance(code, str) or not code or (system is not None and not isinstance(system, str)):
        raise InvalidInput(f"{field_name} needs a system and a code", field=field_name)
    return system, code


def _datetime(value: Any, field_name: str) -> datetime | None:
    from opendmp.fhir.patient import parse_datetime

    return None if value is None else parse_datetime(value, field_name)


def _subject(resource: dict[str, Any]) -> SubjectRef:
    subject = resource.get("subject")
    if not isinstance(subject, dict):
        raise InvalidInput("the subject (the patient) is required", field="DocumentReference.subject")
    reference = subject.get("reference")
    if isinstance(reference, str) and reference.startswith("Patient/"):
        record_id = parse_id(reference.removeprefix("Patient/"))
        if record_id is None:
            raise InvalidInput("unknown patient reference", field="DocumentReference.subject")
        return SubjectRef(record_id=record_id)
    identifier = subject.get("identifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("system"), str):
        value = identifier.get("value")
        if not isinstance(value, str):
            raise InvalidInput("subject.identifier needs a value", field="DocumentReference.subject")
        return SubjectRef(ins=parse_ins(identifier["system"], value))
    raise InvalidInput("subject must be Patient/<id> or an INS identifier", field="DocumentReference.subject")


def _contained(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    contained = resource.get("contained") or []
    if not isinstance(contained, list):
        raise InvalidInput("contained must be a list", field="DocumentReference.contained")
    return {f"#{c['id']}": c for c in contained if isinstance(c, dict) and isinstance(c.get("id"), str)}


def _identifiers(item: dict[str, Any]) -> list[dict[str, Any]]:
    found = item.get("identifier")
    if isinstance(found, dict):
        return [found]
    return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []


def _author(item: Any, contained: dict[str, dict[str, Any]], field_name: str) -> AuthorIn:
    if not isinstance(item, dict):
        raise InvalidInput("an author is a Reference", field=field_name)
    reference = item.get("reference")
    target = contained.get(reference) if isinstance(reference, str) else None
    display = item.get("display") if isinstance(item.get("display"), str) else None
    if isinstance(reference, str) and reference.startswith("Patient/"):
        return AuthorIn(AuthorKind.PATIENT, display=display)
    if isinstance(reference, str) and reference.startswith("Device/"):
        return AuthorIn(AuthorKind.DEVICE, display=display or reference)
    candidates = _identifiers(item) + (_identifiers(target) if target else [])
    if target and target.get("resourceType") == "PractitionerRole":
        nested = target.get("practitioner")
        if isinstance(nested, dict):
            candidates += _identifiers(nested) + _identifiers(contained.get(str(nested.get("reference")), {}))
    rpps = finess = None
    for identifier in candidates:
        value = identifier.get("value")
        if not isinstance(value, str):
            continue
        if identifier.get("system") == PROFESSIONAL_SYSTEM:
            from opendmp.identity.service import rpps_from_national_id

            rpps = rpps_from_national_id(value) if value.startswith("8") and len(value) == 12 else None
            if rpps is None:
                raise InvalidInput("an author's idNat_PS is 8 followed by the RPPS", field=field_name)
        elif identifier.get("system") == STRUCTURE_SYSTEM:
            finess = value[1:] if value.startswith("1") and len(value) == 10 else value
    kind = AuthorKind.PROFESSIONAL if rpps else AuthorKind.ORGANISATION if finess else None
    if target and target.get("resourceType") == "Device":
        kind = AuthorKind.DEVICE
    if kind is None:
        raise InvalidInput(
            "an author is identified by idNat_PS or idNat_Struct, or is the Patient or a Device", field=field_name
        )
    return AuthorIn(kind, rpps=rpps, finess=finess, display=display)


def _visibility(resource: dict[str, Any]) -> tuple[str | None, frozenset[str]]:
    labels = list(resource.get("securityLabel") or [])
    meta = resource.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("security"), list):
        labels += [{"coding": [c]} for c in meta["security"]]
    confidentiality, visibility = None, set()
    for label in labels:
        system, code = _coding(label, "DocumentReference.securityLabel")
        if system == VISIBILITY_SYSTEM and code in VISIBILITY_CODES:
            visibility.add(code)
        elif system == CONFIDENTIALITY_SYSTEM and code in CONFIDENTIALITY_CODES:
            confidentiality = code
        else:
            raise InvalidInput(f"unknown security label {system}|{code}", field="DocumentReference.securityLabel")
    return confidentiality, frozenset(visibility)


def _hash(value: Any) -> bytes | None:
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError) as error:
        raise InvalidInput("attachment.hash is the base64 SHA-1 of the content", field="attachment.hash") from error
    if len(digest) != 20:
        raise InvalidInput("attachment.hash is a SHA-1 (20 bytes, base64)", field="attachment.hash")
    return digest


def parse_document_reference(resource: dict[str, Any]) -> DocumentIn:
    if resource.get("resourceType") != "DocumentReference":
        raise InvalidInput("expected a DocumentReference", field="resourceType")
    if resource.get("status") != "current":
        raise InvalidInput("a submitted document's status is current", field="DocumentReference.status")
    type_system, type_code = _coding(resource.get("type"), "DocumentReference.type")
    if type_code is None:
        raise InvalidInput("the document type is required", field="DocumentReference.type")
    categories = resource.get("category") or []
    category_code = _coding(categories[0], "DocumentReference.category")[1] if categories else None
    contents = resource.get("content")
    if not isinstance(contents, list) or not contents or not isinstance(contents[0], dict):
        raise InvalidInput("the content (an attachment) is required", field="DocumentReference.content")
    attachment = contents[0].get("attachment")
    if not isinstance(attachment, dict):
        raise InvalidInput("content.attachment is required", field="DocumentReference.content.attachment")
    data = None
    if attachment.get("data") is not None:
        try:
            data = base64.b64decode(attachment["data"], validate=True)
        except (binascii.Error, ValueError, TypeError) as error:
            raise InvalidInput("attachment.data is not base64", field="attachment.data") from error
    size = attachment.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise InvalidInput("attachment.size is a non-negative integer", field="attachment.size")
    contained = _contained(resource)
    authors = tuple(_author(a, contained, "DocumentReference.author") for a in resource.get("author") or [])
    legal = None
    if resource.get("authenticator") is not None:
        legal = _author(resource["authenticator"], contained, "DocumentReference.authenticator").rpps
    replaces = None
    for relation in resource.get("relatesTo") or []:
        if isinstance(relation, dict) and relation.get("code") == "replaces":
            reference = (relation.get("target") or {}).get("reference", "")
            replaces = parse_id(str(reference).removeprefix("DocumentReference/"))
            if replaces is None:
                raise InvalidInput("relatesTo.target must be DocumentReference/<id>", field="relatesTo")
    master = resource.get("masterIdentifier")
    unique_id = master.get("value") if isinstance(master, dict) else None
    if unique_id is not None and (not isinstance(unique_id, str) or not 0 < len(unique_id) <= 128):
        raise InvalidInput("masterIdentifier.value is at most 128 characters", field="masterIdentifier")
    period = (resource.get("context") or {}).get("period") or {}
    confidentiality, visibility = _visibility(resource)
    fmt = contents[0].get("format")
    mime = attachment.get("contentType")
    if mime is not None and not isinstance(mime, str):
        raise InvalidInput("attachment.contentType is a MIME type", field="attachment.contentType")
    return DocumentIn(
        subject=_subject(resource),
        type_system=type_system or "",
        type_code=type_code,
        unique_id=unique_id,
        title=attachment.get("title") if isinstance(attachment.get("title"), str) else resource.get("description"),
        category_code=category_code,
        format_code=fmt.get("code") if isinstance(fmt, dict) else None,
        mime_type=mime,
        language=attachment.get("language") if isinstance(attachment.get("language"), str) else None,
        size=size,
        sha1=_hash(attachment.get("hash")),
        created_at=_datetime(attachment.get("creation"), "attachment.creation"),
        service_start=_datetime(period.get("start"), "context.period.start"),
        service_stop=_datetime(period.get("end"), "context.period.end"),
        confidentiality=confidentiality,
        visibility=visibility,
        authors=authors,
        legal_authenticator=legal,
        replaces=replaces,
        content_url=attachment.get("url") if isinstance(attachment.get("url"), str) else None,
        data=data,
    )


def to_fhir(document: Document, authors: list[DocumentAuthor], base_url: str) -> dict[str, Any]:
    doc_type = codes.document_type(document.type_system, document.type_code)
    labels = [{"coding": [{"system": CONFIDENTIALITY_SYSTEM, "code": document.confidentiality}]}]
    security = []
    for flag, code in (
        (document.masked_from_professionals, MASQUE_PS),
        (document.invisible_to_patient, INVISIBLE_PATIENT),
        (document.invisible_to_representatives, INVISIBLE_REPRESENTANTS_LEGAUX),
    ):
        if flag:
            security.append({"system": VISIBILITY_SYSTEM, "code": code})
            labels.append({"coding": [{"system": VISIBILITY_SYSTEM, "code": code}]})
    generated = document.blob_key.startswith("generated:")
    attachment: dict[str, Any] = {"contentType": document.mime_type, "url": f"{base_url}/fhir/Binary/{document.id}"}
    if not generated:  # generated content (the reimbursement history) has no fixed size or hash
        attachment["size"] = document.size
        attachment["hash"] = base64.b64encode(bytes.fromhex(document.sha1)).decode()
    if document.title:
        attachment["title"] = document.title
    if document.language:
        attachment["language"] = document.language
    if document.created_at:
        attachment["creation"] = iso(document.created_at)
    content: dict[str, Any] = {"attachment": attachment}
    if document.format_code:
        content["format"] = {"code": document.format_code}
    meta: dict[str, Any] = {"versionId": str(document.meta_version), "lastUpdated": iso(document.updated_at)}
    if security:
        meta["security"] = security
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": str(document.id),
        "meta": meta,
        "extension": [{"url": ARCHIVED_EXTENSION, "valueBoolean": document.archived}],
        "masterIdentifier": {"system": URI_SYSTEM, "value": document.unique_id},
        "identifier": [{"use": "official", "system": URI_SYSTEM, "value": f"urn:uuid:{document.logical_id}"}],
        "status": document.status,
        "type": {"coding": [{"system": doc_type.system_url, "code": doc_type.code, "display": doc_type.display_fr}]},
        "category": [
            {
                "coding": [
                    {
                        "system": doc_type.class_system_url,
                        "code": doc_type.class_code,
                        "display": doc_type.class_display_fr,
                    }
                ]
            }
        ],
        "subject": {"reference": f"Patient/{document.record_id}"},
        "date": iso(document.submitted_at),
        "securityLabel": labels,
        "content": [content],
    }
    if generated:  # the same content, printable (decision 0019)
        pdf = {"contentType": "application/pdf", "url": f"{base_url}/fhir/Binary/{document.id}?_format=application/pdf"}
        resource["content"].append({"attachment": {**attachment, **pdf}})
    if document.title:
        resource["description"] = document.title
    author_refs = [_author_reference(a) for a in authors]
    if author_refs:
        resource["author"] = author_refs
    if document.legal_authenticator:
        resource["authenticator"] = {
            "identifier": {"system": PROFESSIONAL_SYSTEM, "value": "8" + document.legal_authenticator}
        }
    if document.service_start or document.service_stop:
        period = {}
        if document.service_start:
            period["start"] = iso(document.service_start)
        if document.service_stop:
            period["end"] = iso(document.service_stop)
        resource["context"] = {"period": period}
    if document.replaces_id:
        resource["relatesTo"] = [
            {"code": "replaces", "target": {"reference": f"DocumentReference/{document.replaces_id}"}}
        ]
    return resource


def _author_reference(author: DocumentAuthor) -> dict[str, Any]:
    reference: dict[str, Any] = {}
    if author.kind == AuthorKind.PROFESSIONAL and author.rpps:
        reference["identifier"] = {"system": PROFESSIONAL_SYSTEM, "value": "8" + author.rpps}
        reference["type"] = "Practitioner"
    elif author.kind == AuthorKind.ORGANISATION and author.finess:
        reference["identifier"] = {"system": STRUCTURE_SYSTEM, "value": "1" + author.finess}
        reference["type"] = "Organization"
    elif author.kind == AuthorKind.PATIENT:
        reference["reference"] = f"Patient/{author.record_id}"
    else:
        reference["type"] = "Device"
    if author.display:
        reference["display"] = author.display
    return reference
