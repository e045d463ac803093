"""The vault: document bytes in, encrypted blobs out, and back. Composes the per-record data key
(key store), segmented AES-256-GCM (crypto) and the blob store; the blob is written and fsynced
before the caller flushes the metadata that points at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from opendmp.document import crypto
from opendmp.document.blobstore import BlobStore, blob_key
from opendmp.document.keystore import KeyStore
from opendmp.document.models import Document


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str
    size: int
    sha256: str
    sha1: str


@dataclass
class Vault:
    keys: KeyStore
    blobs: BlobStore

    def store(
        self,
        record_id: uuid.UUID,
        document_id: uuid.UUID,
        version: int,
        chunks: Iterable[bytes],
        *,
        data_key: bytes | None = None,
    ) -> StoredBlob:
        """`data_key`: the record's key when the caller already holds it (several documents)."""
        if data_key is None:
            data_key = self.keys.data_key_for(record_id, create=True)
        sealed = crypto.encrypt(data_key, document_id, record_id, chunks)
        key = blob_key(record_id, document_id, version)
        self.blobs.put(key, sealed)
        return StoredBlob(key, sealed.size, sealed.sha256, sealed.sha1)

    def open(self, document: Document) -> Iterator[bytes]:
        data_key = self.keys.data_key_for(document.record_id, create=False)
        return crypto.decrypt(data_key, document.id, document.record_id, self.blobs.get(document.blob_key))

    def reseal(self, document: Document, record_id: uuid.UUID) -> StoredBlob:
        """Re-encrypt a document for another record (a merge): its bytes must then live under that
        record's data key, so that shredding the record shreds them."""
        sealed = self.store(record_id, document.id, document.version, self.open(document))
        if sealed.sha256 != document.sha256:
            raise crypto.ContentIntegrityError("the document changed while it was re-encrypted")
        return sealed

    def discard(self, key: str) -> None:
        self.blobs.delete(key)
