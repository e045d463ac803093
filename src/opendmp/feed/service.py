"""Use cases of the reimbursement history: file a chunk of claim lines (the insurer's feed),
attach parked claims when a record opens, purge parked claims (objection, expiry), read the
claims of a record for the generated *Historique de remboursement*.

Storage (decision 0020): per chunk, the lines of one record are sealed together under the
record's data key (one encryption, one row, one journal entry per record per chunk) and the
REMB document of the record (decision 0019) has its period and version moved. Lines for a NIR
without a record are parked under the parking key (decision 0021). Services flush, never
commit: the edge commits each chunk, so a crash loses at most the chunk in flight, and feeding
the file again completes it (claim ids already stored are skipped).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
import weakref
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action, NewDocument, RecordFacts, decide
from opendmp.document import codes, crypto
from opendmp.document.keystore import KeyStore
from opendmp.document.models import AuthorKind, Document, DocumentAuthor, DocumentLookup, DocumentStatus
from opendmp.feed import repository as repo
from opendmp.feed.claims import Claim, Line, Rejected
from opendmp.feed.models import ReimbursementBatch, ReimbursementClaim, ReimbursementParked
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem
from opendmp.journal import service as journal
from opendmp.journal.models import JournalEntry
from opendmp.kit.failpoints import failpoint
from opendmp.kit.ids import new_id
from opendmp.record.models import RecordStatus
from opendmp.stats import counters

HISTORY_MONTHS = 24  # attached at opening (DOMAIN.md, "Lifecycle")
PARKING_DAYS = 90  # claims for a NIR without a record are kept at most this long
# The parking key lives in the key store like a record's data key, under this fixed id.
PARKING_KEY_ID = uuid.UUID("5f0e3a4c-9b7d-4c1e-8a2f-72656d62706b")
GENERATED_BLOB = "generated:reimbursements"  # the REMB document's content is made on read
HISTORY_TITLE = "Historique de remboursement"
WRITABLE = frozenset({RecordStatus.ACTIVE.value, RecordStatus.PENDING_OBJECTION.value})
KEY_CACHE = 200_000  # data keys kept per run (32 bytes each): bounded, whatever the file

_encode = msgspec.msgpack.Encoder()
_decode = msgspec.msgpack.Decoder(list[Claim])


class FeedKeys:
    """The keys one ingest run uses: records' data keys (cached, bounded), the parking key, and
    the key of the NIR digests (derived from the parking key, so it needs no other secret)."""

    def __init__(self, keys: KeyStore) -> None:
        self.store = keys
        self._cache: OrderedDict[uuid.UUID, bytes] = OrderedDict()
        self._parking: bytes | None = None
        self._digest_key: bytes | None = None

    def record_key(self, record_id: uuid.UUID) -> bytes:
        key = self._cache.get(record_id)
        if key is None:
            key = self.store.data_key_for(record_id, create=True)
            self._cache[record_id] = key
            if len(self._cache) > KEY_CACHE:
                self._cache.popitem(last=False)
        return key

    def prefetch(self, record_ids: list[uuid.UUID]) -> None:
        """Load (or make) the keys of a chunk's records in one key-store transaction."""
        missing = [r for r in record_ids if r not in self._cache]
        if missing:
            for record_id, key in self.store.data_keys_for(missing).items():
                self._cache[record_id] = key
            while len(self._cache) > KEY_CACHE:
                self._cache.popitem(last=False)

    @property
    def parking(self) -> bytes:
        if self._parking is None:
            self._parking, self._digest_key = _parking_keys(self.store)
        return self._parking

    def nir_digest(self, nir: str) -> str:
        """HMAC-SHA-256 of the NIR: parked rows are found by it, and a NIR cannot be recovered
        from it by trying the (small) space of NIRs without the key."""
        if self._digest_key is None:
            self._parking, self._digest_key = _parking_keys(self.store)
        return hmac.new(self._digest_key, nir.encode(), hashlib.sha256).hexdigest()


# The parking key never changes (rotation re-wraps it, destruction is not done to it): one read per
# key store and process, so that an opening does not pay a key-store transaction for it.
_PARKING: weakref.WeakKeyDictionary[KeyStore, tuple[bytes, bytes]] = weakref.WeakKeyDictionary()


def _parking_keys(store: KeyStore) -> tuple[bytes, bytes]:
    found = _PARKING.get(store)
    if found is None:
        parking = store.data_key_for(PARKING_KEY_ID, create=True)
        digest_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"opendmp reimbursement parking nir digest"
        ).derive(parking)
        found = _PARKING[store] = (parking, digest_key)
    return found


def seal(key: bytes, row_id: uuid.UUID, owner_id: uuid.UUID, claims: list[Claim]) -> bytes:
    return b"".join(crypto.encrypt(key, row_id, owner_id, [_encode.encode(claims)]))


def unseal(key: bytes, row_id: uuid.UUID, owner_id: uuid.UUID, sealed: bytes) -> list[Claim]:
    return _decode.decode(b"".join(crypto.decrypt(key, row_id, owner_id, [sealed])))


@dataclass(slots=True)
class ChunkOutcome:
    stored: int = 0  # lines filed in records
    parked: int = 0  # lines parked (no record yet)
    already_fed: int = 0  # claim ids stored by an earlier run: skipped (idempotence)
    not_open: int = 0  # lines for a record that is closed, objected, purged, suspended
    records: int = 0  # records that received lines
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, other: ChunkOutcome) -> None:
        self.stored += other.stored
        self.parked += other.parked
        self.already_fed += other.already_fed
        self.not_open += other.not_open
        self.records += other.records
        self.rejected.extend(other.rejected)


def _midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(0), tzinfo=UTC)


@dataclass(slots=True)
class _Group:
    record_id: uuid.UUID
    status: str
    ins: Ins
    claims: list[Claim]


def _file(
    session: Session, actor: Actor, keys: FeedKeys, run_id: uuid.UUID, groups: list[_Group], now: datetime
) -> None:
    """Seal each group under its record's key, create or move the REMB documents, journal one
    entry per record. Asks the policy for each record (only the insurer feeds REMB)."""
    for group in groups:
        facts = RecordFacts(group.record_id, group.status, group.ins)
        target = NewDocument(facts, repo.REIMBURSEMENT_TYPE)
        if not decide(actor, Action.DOCUMENT_CREATE, target, now).allowed:
            access.require(session, actor, Action.DOCUMENT_CREATE, target, now)  # journals and raises
    keys.prefetch([g.record_id for g in groups])
    documents = repo.history_documents(session, (g.record_id for g in groups))
    doc_type = codes.document_type(codes.TRE_A05_OID, repo.REIMBURSEMENT_TYPE)
    new_documents, new_authors, new_lookups, touched, batches, events = [], [], [], [], [], []
    for group in groups:
        days = [c.care_date for c in group.claims]  # ISO days: text order is date order
        first, last = min(days), max(days)
        row_id = new_id()
        batches.append(
            {
                "id": row_id,
                "record_id": group.record_id,
                "run_id": run_id,
                "received_at": now,
                "lines": len(group.claims),
                "first_care": date.fromisoformat(first),
                "last_care": date.fromisoformat(last),
                "sealed": seal(keys.record_key(group.record_id), row_id, group.record_id, group.claims),
            }
        )
        existing = documents.get(group.record_id)
        if existing is None:
            doc_id = new_id()
            unique_id = f"2.25.{uuid.uuid5(PARKING_KEY_ID, str(group.record_id)).int}"
            new_documents.append(
                _history_document(doc_id, group.record_id, unique_id, doc_type, actor, now, first, last)
            )
            new_authors.append(
                {
                    "id": new_id(),
                    "record_id": group.record_id,
                    "document_id": doc_id,
                    "kind": AuthorKind.ORGANISATION.value,
                    "rpps": None,
                    "finess": None,
                    "display": "Assurance Maladie",
                }
            )
            new_lookups.append({"unique_id": unique_id, "record_id": group.record_id, "document_id": doc_id})
            action = "document:create"
        else:
            doc_id = existing
            touched.append({"doc_id": doc_id, "now": now, "start": _midnight(first), "stop": _midnight(last)})
            action = "document:update"
        events.append(
            (
                group.record_id,
                journal.Event(
                    action, "document", str(doc_id), reason=f"type=REMB;reimbursement-lines={len(group.claims)}"
                ),
            )
        )
    repo.add_rows(session, Document, new_documents)
    repo.add_rows(session, DocumentAuthor, new_authors)
    repo.add_rows(session, DocumentLookup, new_lookups)
    repo.touch_documents(session, touched)
    repo.bulk_insert(session, ReimbursementBatch, batches)
    journal.append_many(
        session, actor, events, at=now, insert=lambda rows: repo.bulk_insert(session, JournalEntry, rows)
    )
    if new_documents:
        source = counters.document_source(actor.kind.value, None)
        key = counters.DocumentKey(now.date(), source, doc_type.class_code, doc_type.code)
        counters.add_documents(session, Counter({key: len(new_documents)}))


def _history_document(
    doc_id: uuid.UUID,
    record_id: uuid.UUID,
    unique_id: str,
    doc_type: codes.DocumentType,
    actor: Actor,
    now: datetime,
    first: str,
    last: str,
) -> dict[str, Any]:
    empty = hashlib.sha256(b"").hexdigest()
    return {
        "id": doc_id,
        "record_id": record_id,
        "logical_id": doc_id,
        "version": 1,
        "meta_version": 1,
        "unique_id": unique_id,
        "set_id": None,
        "status": DocumentStatus.CURRENT.value,
        "archived": False,
        "title": HISTORY_TITLE,
        "type_code": doc_type.code,
        "type_system": doc_type.system_oid,
        "class_code": doc_type.class_code,
        "format_code": None,
        "mime_type": "application/json",
        # Generated on read: no stored bytes, so no size or hash is published (fhir/document.py).
        "size": 0,
        "sha256": empty,
        "sha1": hashlib.sha1(b"", usedforsecurity=False).hexdigest(),
        "created_at": now,
        "service_start": _midnight(first),
        "service_stop": _midnight(last),
        "confidentiality": "N",
        "language": "fr-FR",
        "masked_from_professionals": False,
        "invisible_to_patient": False,
        "invisible_to_representatives": False,
        "legal_authenticator": None,
        "submitted_at": now,
        "submitted_by_kind": actor.kind.value,
        "submitted_by": actor.id,
        "submitted_by_organisation": actor.organisation,
        "submission_set_id": None,
        "replaces_id": None,
        "blob_key": GENERATED_BLOB,
        "updated_at": now,
        "deleted_at": None,
        "deleted_by": None,
    }


def store_chunk(
    session: Session, actor: Actor, keys: FeedKeys, run_id: uuid.UUID, lines: list[Line], now: datetime
) -> ChunkOutcome:
    """File one chunk of checked lines. A claim id seen twice in this run is a reject (the
    second one); one stored by an earlier run is skipped. Lines go to their record, or are
    parked when the NIR has no record."""
    outcome = ChunkOutcome()
    first: dict[str, Line] = {}
    keep = first.setdefault
    for line in lines:
        earlier = keep(line.claim.claim_id, line)
        if earlier is not line:
            claim_id = line.claim.claim_id
            outcome.rejected.append(
                Rejected(line.number, f"claim_id {claim_id} repeated in this batch (line {earlier.number})", claim_id)
            )
    known = repo.existing_claims(session, list(first))
    if not known:  # the usual case of a new file: every line is fresh
        fresh = list(first.values())
    else:
        fresh = []
        for claim_id, line in first.items():
            run = known.get(claim_id)
            if run is None:
                fresh.append(line)
            elif run == run_id:
                outcome.rejected.append(
                    Rejected(line.number, f"claim_id {claim_id} repeated in this batch (an earlier chunk)", claim_id)
                )
            else:
                outcome.already_fed += 1
    # Grouped by NIR first (one dict step per line), then each NIR resolved once.
    by_nir: dict[str, list[Claim]] = defaultdict(list)
    for line in fresh:
        by_nir[line.nir].append(line.claim)
    found = repo.records_by_nir(session, list(by_nir))
    groups: dict[uuid.UUID, _Group] = {}
    parked: dict[str, list[Claim]] = {}
    owners: list[tuple[uuid.UUID | None, uuid.UUID | None, list[str]]] = []
    for nir, nir_claims in by_nir.items():
        where = found.get(nir)
        if where is None:
            parked[nir] = nir_claims
            continue
        record_id, status, system = where
        if status not in WRITABLE:
            outcome.not_open += len(nir_claims)
            continue
        group = groups.get(record_id)
        if group is None:
            groups[record_id] = _Group(record_id, status, Ins(InsSystem(system), nir), nir_claims)
        else:
            group.claims.extend(nir_claims)
        owners.append((record_id, None, [c.claim_id for c in nir_claims]))
        outcome.stored += len(nir_claims)
    _attach_late_parked(session, actor, keys, groups, now)
    _file(session, actor, keys, run_id, list(groups.values()), now)
    outcome.records = len(groups)
    if parked:
        parked_rows = []
        for nir, claims in parked.items():
            row_id = new_id()
            days = [c.care_date for c in claims]
            parked_rows.append(
                {
                    "id": row_id,
                    "nir_digest": keys.nir_digest(nir),
                    "received_at": now,
                    "expires_at": now + timedelta(days=PARKING_DAYS),
                    "lines": len(claims),
                    "first_care": date.fromisoformat(min(days)),
                    "last_care": date.fromisoformat(max(days)),
                    "sealed": seal(keys.parking, row_id, PARKING_KEY_ID, claims),
                }
            )
            owners.append((None, row_id, [c.claim_id for c in claims]))
            outcome.parked += len(claims)
        repo.add_rows(session, ReimbursementParked, parked_rows)
        journal.append(
            session,
            actor,
            journal.Event("reimbursement:park", "platform", None, reason=f"lines={outcome.parked};nirs={len(parked)}"),
            record_id=None,
            at=now,
        )
    failpoint("reimbursement.before-claim-index")  # batches sealed and flushed, index not yet
    repo.insert_claim_index(session, run_id, owners)
    session.flush()
    return outcome


def _attach_late_parked(
    session: Session, actor: Actor, keys: FeedKeys, groups: dict[uuid.UUID, _Group], now: datetime
) -> None:
    """Lines parked for a NIR whose record has opened since without attaching them (a record
    opened while that chunk was in flight, or by a path without the opening hook) join it with
    the next lines for that record: one digest per record of the chunk, one query."""
    if not groups:
        return
    digests = {keys.nir_digest(group.ins.value): group for group in groups.values()}
    for digest in repo.parked_digests(session, list(digests)):
        group = digests[digest]
        attach_history(session, keys.store, group.record_id, group.ins, now, actor=actor, feed_keys=keys)


def months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def attach_history(
    session: Session,
    store: KeyStore,
    record_id: uuid.UUID,
    ins: Ins,
    now: datetime,
    *,
    actor: Actor | None = None,
    feed_keys: FeedKeys | None = None,
) -> int:
    """At opening: the parked claims of the holder's NIR from the last 24 months join the record
    (re-sealed under its data key, one batch, one journal entry); older ones are dropped. Runs in
    the opening's transaction. Returns the number of lines attached."""
    keys = feed_keys or FeedKeys(store)
    digest = keys.nir_digest(ins.value)
    rows = repo.parked_for(session, digest)
    if not rows:
        return 0
    cutoff = months_before(now.date(), HISTORY_MONTHS).isoformat()
    claims = [c for row in rows for c in unseal(keys.parking, row.id, PARKING_KEY_ID, row.sealed)]
    kept = [c for c in claims if c.care_date >= cutoff]
    ids = [row.id for row in rows]
    repo.claims_to_record(session, ids, record_id)
    repo.drop_claims_of(session, [c.claim_id for c in claims if c.care_date < cutoff])
    repo.drop_parked(session, ids, keep_claims=True)
    if kept:
        from opendmp.record import repository as records_repo

        record = records_repo.get_record(session, record_id)
        status = record.status if record is not None else RecordStatus.ACTIVE.value
        _file(session, actor or Actor.insurer_feed(), keys, new_id(), [_Group(record_id, status, ins, kept)], now)
    session.flush()
    return len(kept)


def purge_parked(session: Session, keys: FeedKeys, nir: str, now: datetime, *, reason: str) -> int:
    """The person objected: their parked claims go now (the index rows too). Journaled on the
    system chain (no NIR in it). Returns the number of lines purged."""
    rows = repo.parked_for(session, keys.nir_digest(nir))
    if not rows:
        return 0
    lines = sum(row.lines for row in rows)
    repo.drop_parked(session, [row.id for row in rows])
    journal.append(
        session,
        Actor.system("reimbursement-parking"),
        journal.Event("reimbursement:purge-parked", "platform", None, reason=f"{reason};lines={lines}"),
        record_id=None,
        at=now,
    )
    session.flush()
    return lines


def purge_expired(session: Session, now: datetime, *, limit: int = 10_000) -> int:
    """Parked claims older than 90 days go (their rows and index rows). Returns rows purged."""
    ids = repo.expired_parked(session, now, limit)
    repo.drop_parked(session, ids)
    if ids:
        journal.append(
            session,
            Actor.system("job:reimbursement-parking-purge"),
            journal.Event("reimbursement:purge-parked", "platform", None, reason=f"expired;rows={len(ids)}"),
            record_id=None,
            at=now,
        )
    session.flush()
    return len(ids)


def claims_of(session: Session, keys: KeyStore, record_id: uuid.UUID) -> list[Claim]:
    """Every claim line stored for the record, oldest batch first. Callers have asked the policy
    (the REMB document's read, document/service.py)."""
    batches = repo.batches_of(session, record_id)
    if not batches:
        return []
    key = keys.data_key_for(record_id, create=False)
    return [c for batch in batches for c in unseal(key, batch.id, record_id, batch.sealed)]


def attach_at_opening(session: Session, keys: KeyStore, record_id: uuid.UUID, ins_value: str, now: datetime) -> int:
    """The edges' one call after `open_record`, in its transaction (FHIR $open, `record open`)."""
    from opendmp.record import repository as records_repo

    patient = records_repo.get_patient(session, record_id)
    system = InsSystem(patient.ins_system) if patient is not None else InsSystem.NIR
    return attach_history(session, keys, record_id, Ins(system, ins_value), now)


def purge_at_objection(session: Session, keys: KeyStore, record_id: uuid.UUID, now: datetime) -> int:
    """The holder objected (opt-out): parked claims for their NIR go at once; what the record
    holds goes with the record (the purge job, its data key shredded)."""
    from opendmp.record import repository as records_repo

    patient = records_repo.get_patient(session, record_id)
    if patient is None:
        return 0
    return purge_parked(session, FeedKeys(keys), patient.ins_value, now, reason="objection")


def merge_history(
    session: Session, keys: KeyStore, duplicate_id: uuid.UUID, survivor_id: uuid.UUID, now: datetime
) -> None:
    """A merge (record/service.merge_records): the duplicate's claim batches are re-sealed under
    the survivor's data key; its REMB document moves too, superseded when the survivor has one
    (one history per record, the survivor's period widened to cover both)."""
    from sqlalchemy import update

    batches = repo.batches_of(session, duplicate_id)
    if batches:
        old_key = keys.data_key_for(duplicate_id, create=False)
        new_key = keys.data_key_for(survivor_id, create=True)
        for batch in batches:
            batch.sealed = seal(new_key, batch.id, survivor_id, unseal(old_key, batch.id, duplicate_id, batch.sealed))
            batch.record_id = survivor_id
        session.execute(
            update(ReimbursementClaim).where(ReimbursementClaim.record_id == duplicate_id).values(record_id=survivor_id)
        )
    moved, kept = repo.current_history(session, duplicate_id), repo.current_history(session, survivor_id)
    if moved is None:
        return
    moved.record_id = survivor_id
    if kept is not None:
        moved.status = DocumentStatus.SUPERSEDED.value
        moved.meta_version += 1
        moved.updated_at = now
        starts = [d for d in (kept.service_start, moved.service_start) if d is not None]
        stops = [d for d in (kept.service_stop, moved.service_stop) if d is not None]
        kept.service_start = min(starts) if starts else None
        kept.service_stop = max(stops) if stops else None
        kept.meta_version += 1
        kept.updated_at = now
    session.flush()
