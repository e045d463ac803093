"""Use cases of documents: submit (one or a whole ITI-65 submission set), read, find, read the
content, replace, mask or archive, delete. Each: load, ask the policy, check the rule, change,
journal. Content is encrypted and fsynced by the vault before the metadata is flushed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import (
    DLU_TYPE,
    Action,
    DocumentFacts,
    NewDocument,
    RecordFacts,
    purpose_of,
    readable_by,
)
from opendmp.consent import service as consents
from opendmp.document import codes, exams
from opendmp.document import repository as repo
from opendmp.document.cda import CdaHeader, read_header
from opendmp.document.content import CDA_TYPES, FHIR_BUNDLE_TYPES, check_content, check_fhir_bundle
from opendmp.document.errors import (
    ContentMismatch,
    DocumentNotFound,
    DuplicateDocument,
    MetadataConflict,
    VersionConflict,
)
from opendmp.document.models import (
    AuthorKind,
    Document,
    DocumentAuthor,
    DocumentLookup,
    DocumentStatus,
    SubmissionSet,
)
from opendmp.document.vault import StoredBlob, Vault
from opendmp.fhir.document import (
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTANTS_LEGAUX,
    MASQUE_PS,
    AuthorIn,
    DocumentIn,
)
from opendmp.identity.actor import Actor, ActorKind
from opendmp.journal import service as journal
from opendmp.kit.errors import InvalidInput
from opendmp.kit.failpoints import failpoint
from opendmp.kit.ids import new_id
from opendmp.notify import service as notifications
from opendmp.notify.models import Category
from opendmp.record import repository as records_repo
from opendmp.record.errors import RecordClosed, RecordNotFound
from opendmp.record.models import Record, RecordStatus
from opendmp.stats import counters

WRITABLE_STATUSES = (RecordStatus.ACTIVE, RecordStatus.PENDING_OBJECTION)


@dataclass(slots=True)
class StoredDocument:
    document: Document
    authors: list[DocumentAuthor]
    created: bool = True  # False when an identical submission was replayed
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SubmissionSetIn:
    unique_id: str
    source_id: str | None = None


@dataclass(slots=True)
class PreparedRecord:
    """What every document of one submission shares: the record, its policy facts, and its data
    key once the first document passed the access check (a refused submission creates no key)."""

    record: Record
    facts: RecordFacts
    data_key: bytes | None = None


def _record_and_facts(session: Session, record_id: uuid.UUID, now: datetime) -> tuple[Record, RecordFacts]:
    return records_repo.visible_facts(
        session, record_id, now, message="no such patient", field="DocumentReference.subject"
    )


def resolve_record(session: Session, item: DocumentIn) -> uuid.UUID:
    if item.subject.record_id is not None:
        return item.subject.record_id
    assert item.subject.ins is not None
    record_id = records_repo.record_id_by_ins(session, item.subject.ins)
    if record_id is None:
        raise RecordNotFound("no record for this INS", field="DocumentReference.subject")
    return record_id


def facts_of(
    session: Session, document: Document, record: RecordFacts, authors: list[DocumentAuthor] | None = None
) -> DocumentFacts:
    if authors is None:
        authors = repo.authors_of(session, [document.id])[document.id]
    return DocumentFacts(
        document_id=document.id,
        record=record,
        type_code=document.type_code,
        authors=frozenset(a.rpps for a in authors if a.rpps),
        submitted_by=document.submitted_by,
        class_code=document.class_code,
        submitted_at=document.submitted_at,
        masked_from_professionals=document.masked_from_professionals,
        invisible_to_patient=document.invisible_to_patient,
        invisible_to_representatives=document.invisible_to_representatives,
    )


def _apply_cda(item: DocumentIn, header: CdaHeader, holder: Any) -> list[str]:
    """Fill missing metadata from the CDA header; refuse contradictions on patient or type."""
    if header.patient_ins is not None and header.patient_ins != holder:
        raise MetadataConflict("the CDA's patient is not the record's holder", field="cda.recordTarget")
    if item.type_code is not None and header.type_code is not None and (item.type_code != header.type_code):
        raise MetadataConflict(
            f"the type code {item.type_code} contradicts the CDA's {header.type_code}", field="DocumentReference.type"
        )
    notes = []
    if item.type_code is None and header.type_code is not None:
        item.type_code, item.type_system = header.type_code, header.type_code_system
        notes.append("type")
    item.title = item.title or header.title
    item.created_at = item.created_at or header.effective_time
    item.service_start = item.service_start or header.service_start
    item.service_stop = item.service_stop or header.service_stop
    item.language = item.language or header.language_code
    item.legal_authenticator = item.legal_authenticator or (
        header.legal_authenticator_national_id[1:]
        if header.legal_authenticator_national_id and header.legal_authenticator_national_id.startswith("8")
        else None
    )
    if not item.authors and header.authors:
        item.authors = tuple(
            AuthorIn(
                AuthorKind.PROFESSIONAL if a.rpps else AuthorKind.ORGANISATION,
                rpps=a.rpps,
                finess=a.organisation_finess,
                display=" ".join(x for x in (a.given, a.family) if x) or None,
            )
            for a in header.authors
        )
    return notes


def submit_document(
    session: Session,
    actor: Actor,
    item: DocumentIn,
    content: bytes,
    now: datetime,
    vault: Vault,
    *,
    submission_set_id: uuid.UUID | None = None,
    max_size: int,
    notify: bool = True,
    prepared: PreparedRecord | None = None,
) -> StoredDocument:
    """File one document in a record. Idempotent on the producer's unique id. `notify=False`
    when the caller notifies once for several documents (a submission set); `prepared` when the
    caller already loaded the record, its facts and its data key (the same for every document of
    a set)."""
    record_id = resolve_record(session, item)
    if prepared is not None and prepared.record.id == record_id:
        record, facts = prepared.record, prepared.facts
    else:
        record, facts = _record_and_facts(session, record_id, now)
    if len(content) > max_size:
        from opendmp.document.errors import ContentTooLarge

        raise ContentTooLarge(f"the document exceeds {max_size} bytes", field="attachment")
    if item.size is not None and item.size != len(content):
        raise ContentMismatch("attachment.size does not match the content", field="attachment.size")
    mime = item.mime_type
    if mime is None:
        raise InvalidInput("attachment.contentType is required", field="attachment.contentType")
    check_content(mime, content[:4096])
    header = None
    if mime in CDA_TYPES:
        header = read_header(content)
        if header.set_id and item.replaces is None:
            previous = repo.by_set_id(session, record_id, str(header.set_id))
            if (
                previous is not None
                and header.version_number is not None
                and header.version_number > (previous.version)
            ):
                item.replaces = previous.id  # a newer version of the same CDA: an XDS RPLC
        _apply_cda(item, header, facts.holder)
    elif mime in FHIR_BUNDLE_TYPES:
        check_fhir_bundle(content)
    if item.type_code is None:
        raise InvalidInput("the document type is required", field="DocumentReference.type")
    doc_type = codes.document_type(item.type_system or "", item.type_code, field="DocumentReference.type")
    if item.category_code is not None and item.category_code != doc_type.class_code:
        raise InvalidInput(
            f"category {item.category_code} is not the class of type {doc_type.code} ({doc_type.class_code})",
            field="DocumentReference.category",
        )
    if record.status not in WRITABLE_STATUSES:
        # Said before the access check: the status is no secret to whoever may look the record
        # up, and "closed" is the useful answer for software that feeds it.
        access.require(session, actor, Action.RECORD_LOOKUP, facts, now)
        raise RecordClosed(
            f"the record is {record.status}: no document can be added", field="DocumentReference.subject"
        )
    # Only the DLU depends on who employs the submitter (an EHPAD): one lookup for it alone.
    org_kind = counters.organisation_kind(session, actor.organisation) if doc_type.code == DLU_TYPE else None
    access.require(session, actor, Action.DOCUMENT_CREATE, NewDocument(facts, doc_type.code, org_kind), now)

    import hashlib

    sha256 = hashlib.sha256(content).hexdigest()
    unique_id = item.unique_id or f"2.25.{uuid.uuid4().int}"  # an OID built from a UUID (ITU-T X.667)
    existing = repo.by_unique_id(session, unique_id)
    if existing is not None:
        if existing.sha256 == sha256 and existing.record_id == record_id:
            return StoredDocument(existing, repo.authors_of(session, [existing.id])[existing.id], created=False)
        raise DuplicateDocument("another document already has this unique id", field="masterIdentifier")
    if item.sha1 is not None and item.sha1 != hashlib.sha1(content).digest():  # noqa: S324 - FHIR R4 defines SHA-1
        raise ContentMismatch("attachment.hash (SHA-1) does not match the content", field="attachment.hash")

    logical_id, version, replaced = new_id(), 1, None
    if item.replaces is not None:
        replaced = repo.get(session, item.replaces, for_update=True)
        if replaced is None or replaced.record_id != record_id:
            raise DocumentNotFound("the document to replace does not exist in this record", field="relatesTo")
        access.require(session, actor, Action.DOCUMENT_REPLACE, facts_of(session, replaced, facts), now)
        if replaced.status != DocumentStatus.CURRENT:
            raise VersionConflict("only the current version of a document can be replaced", field="relatesTo")
        logical_id, version = replaced.logical_id, replaced.version + 1

    document_id = new_id()
    shared = prepared is not None and prepared.record.id == record_id
    if shared and prepared is not None and prepared.data_key is None:
        prepared.data_key = vault.keys.data_key_for(record_id, create=True)
    data_key = prepared.data_key if shared and prepared is not None else None
    stored: StoredBlob = vault.store(record_id, document_id, version, [content], data_key=data_key)
    failpoint("document.after-blob")  # the blob is durable, its metadata not yet committed
    document = Document(
        id=document_id,
        record_id=record_id,
        logical_id=logical_id,
        version=version,
        meta_version=1,
        unique_id=unique_id,
        set_id=str(header.set_id) if header and header.set_id else None,
        status=DocumentStatus.CURRENT.value,
        archived=False,
        title=(item.title or doc_type.display_fr)[:500],
        type_code=doc_type.code,
        type_system=doc_type.system_oid,
        class_code=doc_type.class_code,
        format_code=item.format_code,
        mime_type=mime,
        size=stored.size,
        sha256=stored.sha256,
        sha1=stored.sha1,
        created_at=item.created_at,
        service_start=item.service_start,
        service_stop=item.service_stop,
        confidentiality=item.confidentiality or "N",
        language=item.language,
        # The holder may have chosen to mask every new document from professionals by default.
        masked_from_professionals=MASQUE_PS in item.visibility or facts.mask_new_documents,
        invisible_to_patient=INVISIBLE_PATIENT in item.visibility,
        invisible_to_representatives=INVISIBLE_REPRESENTANTS_LEGAUX in item.visibility,
        legal_authenticator=item.legal_authenticator,
        submitted_at=now,
        submitted_by_kind=actor.kind.value,
        submitted_by=actor.id,
        submitted_by_organisation=actor.organisation,
        submission_set_id=submission_set_id,
        replaces_id=replaced.id if replaced else None,
        blob_key=stored.key,
        updated_at=now,
    )
    session.add(document)
    authors = [
        DocumentAuthor(
            record_id=record_id,
            document_id=document_id,
            kind=a.kind.value,
            rpps=a.rpps,
            finess=a.finess,
            display=a.display,
        )
        for a in item.authors or _default_authors(actor)
    ]
    session.add_all(authors)
    session.add(DocumentLookup(unique_id=unique_id, record_id=record_id, document_id=document_id))
    notes: list[str] = []
    if header is not None and header.structured_codes:
        session.flush()
        for earlier in exams.record_exams(
            session, record_id, document_id, header.structured_codes, header.effective_time or now
        ):
            notes.append(
                f"{earlier.window.label_fr} ({earlier.window.code}) déjà réalisé le "
                f"{earlier.performed_at:%d/%m/%Y}, il y a moins de {earlier.window.days} jours : "
                f"DocumentReference/{earlier.document_id}"
            )
    if replaced is not None:
        replaced.status = DocumentStatus.SUPERSEDED.value
        replaced.meta_version += 1
        replaced.updated_at = now
    journal.append(
        session,
        actor,
        journal.Event(
            "document:replace" if replaced else "document:create",
            "document",
            str(document_id),
            reason=f"type={doc_type.code}" + (f";replaces={replaced.id}" if replaced else ""),
        ),
        record_id=record_id,
        at=now,
    )
    counters.count_document(session, actor, doc_type.class_code, doc_type.code, now, record_id)
    session.flush()
    stored_document = StoredDocument(document, authors, notes=notes)
    if notify:
        notify_new_documents(session, actor, [stored_document], now)
    return stored_document


def notify_new_documents(session: Session, actor: Actor, stored: Sequence[StoredDocument], now: datetime) -> None:
    """One "new-document" notification to the holder for what one submission added. Not for the
    insurer's reimbursement lines (one per claim: noise) nor the patient's own uploads; documents
    hidden from the patient are not announced, nor to representatives what is hidden from them."""
    if actor.kind in (ActorKind.INSURER_FEED, ActorKind.PATIENT):
        return
    shown = [s for s in stored if s.created and not s.document.invisible_to_patient]
    if not shown:
        return
    author = next(
        (a.display for s in shown for a in s.authors if a.display and a.kind != AuthorKind.DEVICE.value),
        actor.display_name,
    )
    notifications.notify_holder(
        session,
        shown[0].document.record_id,
        Category.NEW_DOCUMENT,
        {"author": author, "count": len(shown)},
        now,
        include_representatives=not any(s.document.invisible_to_representatives for s in shown),
    )


def _default_authors(actor: Actor) -> list[AuthorIn]:
    """Without authors in the metadata, the submitting actor is the author."""
    if actor.rpps is not None:
        return [
            AuthorIn(AuthorKind.PROFESSIONAL, rpps=actor.rpps, finess=actor.organisation, display=actor.display_name)
        ]
    if actor.kind is ActorKind.PATIENT:
        return [AuthorIn(AuthorKind.PATIENT)]
    if actor.organisation is not None:
        return [AuthorIn(AuthorKind.ORGANISATION, finess=actor.organisation)]
    return [AuthorIn(AuthorKind.DEVICE, display=actor.id)]


def submit_set(
    session: Session,
    actor: Actor,
    submission: SubmissionSetIn,
    items: Sequence[tuple[DocumentIn, bytes]],
    now: datetime,
    vault: Vault,
    *,
    max_size: int,
) -> list[StoredDocument]:
    """An ITI-65 provide bundle: every document or none (the caller's transaction)."""
    if not items:
        raise InvalidInput("a submission set holds at least one document", field="Bundle.entry")
    record_ids = {resolve_record(session, item) for item, _ in items}
    if len(record_ids) != 1:
        raise InvalidInput("a submission set concerns one patient", field="DocumentReference.subject")
    set_id = new_id()
    record_id = record_ids.pop()
    prepared = PreparedRecord(*_record_and_facts(session, record_id, now))
    session.add(
        SubmissionSet(
            id=set_id,
            record_id=record_id,
            unique_id=submission.unique_id,
            source_id=submission.source_id,
            submitted_at=now,
            submitted_by=actor.id,
        )
    )
    session.flush()
    stored = [
        submit_document(
            session,
            actor,
            item,
            content,
            now,
            vault,
            submission_set_id=set_id,
            max_size=max_size,
            notify=False,
            prepared=prepared,
        )
        for item, content in items
    ]
    notify_new_documents(session, actor, stored, now)
    return stored


def get_document(
    session: Session, actor: Actor, document_id: uuid.UUID, now: datetime, *, action: str = "document:read"
) -> StoredDocument:
    document = repo.get(session, document_id)
    if document is None:
        raise DocumentNotFound("no such document")
    _, facts = _record_and_facts(session, document.record_id, now)
    authors = repo.authors_of(session, [document.id])[document.id]
    decision = access.require(session, actor, Action.DOCUMENT_READ, facts_of(session, document, facts, authors), now)
    journal.append(
        session,
        actor,
        journal.Event(action, "document", str(document_id), purpose=purpose_of(decision)),
        record_id=document.record_id,
        at=now,
    )
    consents.note_professional_access(session, actor, document.record_id, now)
    return StoredDocument(document, authors, created=False)


def read_content(
    session: Session, actor: Actor, document_id: uuid.UUID, now: datetime, vault: Vault
) -> tuple[Document, Iterator[bytes]]:
    """The document's bytes, decrypted and verified segment by segment as they are sent."""
    content = read_content_as(session, actor, document_id, now, vault, mime_type=None)
    return content.document, content.chunks  # a generated document: its JSON (size: see read_content_as)


GENERATED_PREFIX = "generated:"  # blob_key of a document whose content is made on read


@dataclass(frozen=True, slots=True)
class Content:
    """A document's content as served: its MIME type, its size when known, its bytes."""

    document: Document
    mime_type: str
    size: int | None
    chunks: Iterator[bytes]


def read_content_as(
    session: Session, actor: Actor, document_id: uuid.UUID, now: datetime, vault: Vault, *, mime_type: str | None
) -> Content:
    """Like read_content, through the same policy and journal. A generated document (the
    reimbursement history, decision 0019) is made from its stored data in the asked format when
    it offers it; a stored document is served as it was filed, whatever was asked."""
    found = get_document(session, actor, document_id, now, action="document:read-content")
    document = found.document
    if document.blob_key.startswith(GENERATED_PREFIX):
        from opendmp.feed import history

        rendered = history.render(session, vault.keys, document, mime_type or document.mime_type, now)
        return Content(document, rendered.mime_type, len(rendered.content), iter([rendered.content]))
    return Content(document, document.mime_type, document.size, vault.open(document))


@dataclass(frozen=True, slots=True)
class DocumentQuery:
    type_codes: tuple[str, ...] = ()
    class_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = (DocumentStatus.CURRENT.value,)
    date_from: datetime | None = None
    date_to: datetime | None = None  # exclusive
    period_from: datetime | None = None
    period_to: datetime | None = None
    author_rpps: str | None = None
    author_kind: str | None = None  # AuthorKind value: the portal's "who wrote it" filter
    title_contains: str | None = None  # the portal's search box (case-insensitive)
    offset: int = 0
    count: int = 20
    newest_first: bool = True


def search_documents(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    query: DocumentQuery,
    now: datetime,
    *,
    facts: RecordFacts | None = None,
) -> tuple[list[StoredDocument], int]:
    """A page of the record's documents the actor may read, and their exact total. `facts`: the
    record's, when the caller loaded them in this transaction already (one load per page)."""
    if facts is None or facts.record_id != record_id:
        _, facts = _record_and_facts(session, record_id, now)
    decision = access.require(session, actor, Action.RECORD_LOOKUP, facts, now)
    filters: list[ColumnElement[bool]] = [Document.status.in_(query.statuses)]
    if query.type_codes:
        filters.append(Document.type_code.in_(query.type_codes))
    if query.class_codes:
        filters.append(Document.class_code.in_(query.class_codes))
    if query.date_from:
        filters.append(Document.submitted_at >= query.date_from)
    if query.date_to:
        filters.append(Document.submitted_at < query.date_to)
    if query.period_from:
        filters.append(Document.service_stop >= query.period_from)
    if query.period_to:
        filters.append(Document.service_start < query.period_to)
    if query.author_rpps:
        filters.append(
            exists().where(DocumentAuthor.document_id == Document.id, DocumentAuthor.rpps == query.author_rpps)
        )
    if query.author_kind:
        filters.append(
            exists().where(DocumentAuthor.document_id == Document.id, DocumentAuthor.kind == query.author_kind)
        )
    if query.title_contains:
        # LIKE's wildcards typed by the user are searched for literally.
        typed = query.title_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        filters.append(Document.title.ilike(f"%{typed}%", escape="\\"))
    rows, total = repo.search(
        session,
        record_id,
        readable_by(actor, facts, now),
        filters,
        offset=query.offset,
        limit=query.count,
        newest_first=query.newest_first,
    )
    authors = repo.authors_of(session, [d.id for d in rows])
    journal.append(
        session,
        actor,
        journal.Event(
            "document:search",
            "record",
            str(record_id),
            reason=f"returned={len(rows)};total={total}",
            purpose=purpose_of(decision),
        ),
        record_id=record_id,
        at=now,
    )
    if rows:
        consents.note_professional_access(session, actor, record_id, now)
    return [StoredDocument(d, authors[d.id], created=False) for d in rows], total


@dataclass(frozen=True, slots=True)
class MetadataChange:
    """What a PATCH may change (None: unchanged)."""

    masked_from_professionals: bool | None = None
    invisible_to_patient: bool | None = None
    invisible_to_representatives: bool | None = None
    archived: bool | None = None
    confidentiality: str | None = None


def update_metadata(
    session: Session,
    actor: Actor,
    document_id: uuid.UUID,
    change: MetadataChange,
    now: datetime,
    *,
    if_match: int | None = None,
) -> StoredDocument:
    """Masking, visibility and archiving. The holder masks or unmasks (MASQUE_PS); the author
    sets visibility, confidentiality and archiving, as the producer does in PDSm."""
    document = repo.get(session, document_id, for_update=True)
    if document is None:
        raise DocumentNotFound("no such document")
    _, facts = _record_and_facts(session, document.record_id, now)
    wanted = {
        name: value
        for name in (
            "masked_from_professionals",
            "invisible_to_patient",
            "invisible_to_representatives",
            "archived",
            "confidentiality",
        )
        if (value := getattr(change, name)) is not None and value != getattr(document, name)
    }
    # Masking is the patient's right, every other change the author's: each asked of the policy,
    # so an author cannot unmask what the holder masked by changing another label with it.
    target = facts_of(session, document, facts)
    action = Action.DOCUMENT_MASK if set(wanted) <= {"masked_from_professionals"} else Action.DOCUMENT_UPDATE
    if "masked_from_professionals" in wanted:
        access.require(session, actor, Action.DOCUMENT_MASK, target, now)
    if set(wanted) - {"masked_from_professionals"}:
        access.require(session, actor, Action.DOCUMENT_UPDATE, target, now)
    elif not wanted:
        access.require(session, actor, Action.DOCUMENT_READ, target, now)
    if if_match is not None and if_match != document.meta_version:
        raise VersionConflict(f"the document changed (version {document.meta_version}, not {if_match})")
    for name, value in wanted.items():
        setattr(document, name, value)
    changes = [f"{name}={value}" for name, value in wanted.items()]
    if not changes:
        return StoredDocument(document, repo.authors_of(session, [document.id])[document.id], created=False)
    document.meta_version += 1
    document.updated_at = now
    journal.append(
        session,
        actor,
        journal.Event(action.value, "document", str(document_id), reason=";".join(changes)),
        record_id=document.record_id,
        at=now,
    )
    session.flush()
    return StoredDocument(document, repo.authors_of(session, [document.id])[document.id], created=False)


def delete_document(
    session: Session, actor: Actor, document_id: uuid.UUID, now: datetime, *, if_match: int | None = None
) -> StoredDocument:
    """Logical deletion by the author (or the patient for their own documents): the entry becomes
    entered-in-error; its content is kept for the retention period."""
    document = repo.get(session, document_id, for_update=True)
    if document is None:
        raise DocumentNotFound("no such document")
    _, facts = _record_and_facts(session, document.record_id, now)
    access.require(session, actor, Action.DOCUMENT_DELETE, facts_of(session, document, facts), now)
    if if_match is not None and if_match != document.meta_version:
        raise VersionConflict(f"the document changed (version {document.meta_version}, not {if_match})")
    if document.status == DocumentStatus.ENTERED_IN_ERROR:
        raise DocumentNotFound("no such document")
    document.status = DocumentStatus.ENTERED_IN_ERROR.value
    document.deleted_at, document.deleted_by = now, actor.id
    document.meta_version += 1
    document.updated_at = now
    journal.append(
        session,
        actor,
        journal.Event("document:delete", "document", str(document_id)),
        record_id=document.record_id,
        at=now,
    )
    session.flush()
    return StoredDocument(document, repo.authors_of(session, [document.id])[document.id], created=False)


def labels_of(
    session: Session, actor: Actor, record_id: uuid.UUID, document_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, tuple[str, str]]:
    """(type code, title) of those of the record's documents the actor may read, for naming them
    in the holder's journal; a document hidden from the actor stays unnamed."""
    if not document_ids:
        return {}
    _, facts = _record_and_facts(session, record_id, now)
    rows = repo.labels(session, record_id, document_ids, readable_by(actor, facts, now))
    return {document_id: (type_code, title or "") for document_id, type_code, title in rows}


def earlier_exams(session: Session, actor: Actor, document: Document, now: datetime) -> list[exams.EarlierExam]:
    """For a document being read: the same exams done within their window before it, among the
    documents the actor may read (the viewer's "recent same-type exam" warning). Journaled like
    an exam query."""
    windowed = [
        (row, window)
        for row in exams.exams_of(session, document.id)  # the few coded exams of one document
        if (window := exams.exam_windows().get((row.code_system, row.code))) is not None
    ]
    if not windowed:
        return []  # most documents: nothing to compare, no policy facts to load
    _, facts = _record_and_facts(session, document.record_id, now)
    readable = readable_by(actor, facts, now)
    found: list[exams.EarlierExam] = []
    for row, window in windowed:
        previous = exams.latest_exam(
            session,
            document.record_id,
            row.code_system,
            row.code,
            row.performed_at - timedelta(days=window.days),
            exclude=document.id,
            readable=readable,
            until=row.performed_at,
        )
        if previous is not None and previous.performed_at == row.performed_at:
            # The same exam filed twice: the one filed first is the earlier.
            other = repo.get(session, previous.document_id)
            if other is None or other.submitted_at >= document.submitted_at:
                previous = None
        if previous is not None:
            found.append(exams.EarlierExam(window, previous.document_id, previous.performed_at))
    if found:
        journal.append(
            session,
            actor,
            journal.Event("document:exam-query", "document", str(document.id), reason=f"earlier={len(found)}"),
            record_id=document.record_id,
            at=now,
        )
    return found


def chunks_of(data: bytes, size: int = 64 * 1024) -> Iterable[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def recent_exam(
    session: Session, actor: Actor, record_id: uuid.UUID, system: str, code: str, days: int, now: datetime
) -> list[StoredDocument]:
    """Was this exam done for this record in the last `days` days? The latest such document the
    actor may read, if any (journaled like a search)."""
    _, facts = _record_and_facts(session, record_id, now)
    access.require(session, actor, Action.RECORD_LOOKUP, facts, now)
    found = exams.latest_exam(
        session,
        record_id,
        exams.normalise_system(system),
        code,
        now - timedelta(days=days),
        readable=readable_by(actor, facts, now),
    )
    journal.append(
        session,
        actor,
        journal.Event(
            "document:exam-query", "record", str(record_id), reason=f"code={code};days={days};found={found is not None}"
        ),
        record_id=record_id,
        at=now,
    )
    if found is None:
        return []
    document = repo.get(session, found.document_id)
    assert document is not None
    return [StoredDocument(document, repo.authors_of(session, [document.id])[document.id], created=False)]


def recent_exams(
    session: Session, actor: Actor, record_id: uuid.UUID, now: datetime, *, facts: RecordFacts | None = None
) -> list[exams.EarlierExam]:
    """The exams of the record still within their window (exam_windows.csv), among the documents
    the actor may read: the "recent same-type exam" warnings of a professional's record page
    (journaled like a search). `facts`: the record's, when the caller loaded them in this
    transaction already."""
    if facts is None or facts.record_id != record_id:
        _, facts = _record_and_facts(session, record_id, now)
    access.require(session, actor, Action.RECORD_LOOKUP, facts, now)
    found = exams.recent_within_windows(session, record_id, now, readable=readable_by(actor, facts, now))
    journal.append(
        session,
        actor,
        journal.Event("document:exam-query", "record", str(record_id), reason=f"all-windows;found={len(found)}"),
        record_id=record_id,
        at=now,
    )
    return found
