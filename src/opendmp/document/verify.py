"""`opendmp audit verify --content`: decrypt every stored document and compare its SHA-256 with
the one recorded when it was filed (a maintenance job: it reads every blob)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.document.models import Document
from opendmp.document.vault import Vault
from opendmp.kit.errors import DomainError


def verify_contents(session: Session, vault: Vault, on_progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """One line per document whose bytes are missing, altered or undecryptable."""
    stmt = select(Document).order_by(Document.record_id, Document.id).execution_options(yield_per=500)
    for count, document in enumerate(session.execute(stmt).scalars(), start=1):
        if document.blob_key.startswith("generated:"):  # made on read (the reimbursement history): no blob
            if on_progress:
                on_progress(count)
            continue
        digest = hashlib.sha256()
        try:
            for chunk in vault.open(document):
                digest.update(chunk)
        except DomainError as error:
            yield f"document {document.id}: {error.message}"
        else:
            if digest.hexdigest() != document.sha256:
                yield f"document {document.id}: content does not match its SHA-256"
        if on_progress:
            on_progress(count)
