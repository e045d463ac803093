"""The holder reads the Historique de remboursement in the portal's viewer, as its PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import select

from opendmp.document.models import Document
from opendmp.feed import generator
from opendmp.feed.ingest import RejectsWriter, feed_files
from opendmp.runtime import Runtime
from tests.web.test_record_pages import a_holder, sign_in, web  # noqa: F401 - the fixture


def test_the_holder_opens_the_reimbursement_history_as_a_pdf(
    web: TestClient[Any],  # noqa: F811 - the fixture
    runtime: Runtime,
    tmp_path: Path,
) -> None:
    holder, record_id = a_holder(runtime)
    assert holder.ins is not None
    path = tmp_path / "claims.ndjson"
    with path.open("wb") as out:
        generator.write(out, 30, 4, [holder.ins.value], runtime.clock.now().date())
    assert feed_files(runtime.sessions, runtime.vault.keys, runtime.clock, [path], RejectsWriter(None)).rejected == 0
    with runtime.sessions() as db:
        document_id = db.execute(select(Document.id).where(Document.record_id == record_id)).scalar_one()
    sign_in(web, runtime, holder)
    page = web.get(f"/documents/{document_id}")
    assert page.status_code == 200 and "Historique de remboursement" in page.text
    content = web.get(f"/documents/{document_id}/contenu")
    assert content.status_code == 200 and content.content.startswith(b"%PDF")
    assert content.headers["content-type"].startswith("application/pdf")
