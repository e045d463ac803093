"""Establishment feeds: a hospital's software files many ITI-65 provide bundles at once.

Each bundle is filed in its own transaction (one bad bundle loses nothing good), through the
document service's submission set (policy, journal, encryption, counters, notifications as for
any ITI-65 bundle). The answer to each filed bundle is kept under its SubmissionSet unique id, so
a retry of the same bundle gets the earlier answer back instead of a duplicate or an error; the
same id with other content, or from another client, is a conflict (docs/decisions/0025)."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from opendmp.access import service as access
from opendmp.access.policy import Action
from opendmp.document import service as documents
from opendmp.document.vault import Vault
from opendmp.establishment.models import FeedSubmission
from opendmp.fhir.mhd import ProvideBundle, canonical_sha256, parse_provide_bundle, transaction_response
from opendmp.identity.actor import Actor
from opendmp.identity.models import Organisation, Professional, ProfessionalActivity
from opendmp.journal import service as journal
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import Conflict, DomainError, InvalidInput
from opendmp.kit.logging import get_logger

MAX_BUNDLES = 100  # per batch: a feed sends more batches rather than one huge request

log = get_logger("opendmp.establishment")


class SubmissionConflict(Conflict):
    """The SubmissionSet unique id was already used for another bundle (or by another client)."""


@dataclass(frozen=True, slots=True)
class BundleResult:
    """What became of one bundle: its transaction-response (filed now, or earlier: `replayed`),
    or the error that refused it whole (nothing of it was kept)."""

    index: int
    response: dict[str, Any] | None = None
    replayed: bool = False
    error: DomainError | None = None
    unexpected: bool = False  # a failure of ours (logged), not of the bundle

    @property
    def ok(self) -> bool:
        return self.response is not None


def submit_bundle(
    session: Session,
    actor: Actor,
    bundle: Any,
    now: datetime,
    vault: Vault,
    *,
    max_size: int,
    parsed: ProvideBundle | None = None,
) -> tuple[dict[str, Any], bool]:
    """File one ITI-65 bundle in the caller's transaction, or give back the answer already given
    to the very same bundle. Returns (transaction-response, replayed)."""
    parsed = parsed or parse_provide_bundle(bundle)
    digest = canonical_sha256(bundle)
    unique_id = parsed.submission.unique_id
    earlier = session.get(FeedSubmission, unique_id)
    if earlier is not None:
        if earlier.client_id != actor.id or earlier.bundle_sha256 != digest:
            raise SubmissionConflict(
                "this SubmissionSet unique id was already used for another bundle", field="List.identifier"
            )
        response: dict[str, Any] = json.loads(earlier.response)
        return response, True
    stored = documents.submit_set(
        session, actor, parsed.submission, [(i, c) for _, i, c in parsed.items], now, vault, max_size=max_size
    )
    response = transaction_response(parsed, stored)
    session.add(
        FeedSubmission(
            unique_id=unique_id,
            record_id=stored[0].document.record_id,
            client_id=actor.id,
            organisation=actor.organisation,
            bundle_sha256=digest,
            response=json.dumps(response, separators=(",", ":")),
            submitted_at=now,
        )
    )
    session.flush()
    return response, False


def require_feeding(sessions: sessionmaker[Session], actor: Actor, now: datetime) -> None:
    """Batches come from establishments' software (policy FEED_BATCH); a refusal is journaled."""
    with unit_of_work(sessions) as session:
        access.require(session, actor, Action.FEED_BATCH, None, now)


def file_one(
    sessions: sessionmaker[Session],
    actor: Actor,
    index: int,
    bundle: Any,
    now: datetime,
    vault: Vault,
    *,
    max_size: int,
    parsed: ProvideBundle | None = None,
) -> BundleResult:
    """One bundle in its own transaction; its failure is its result, never the batch's."""
    try:
        with unit_of_work(sessions) as session:
            response, replayed = submit_bundle(session, actor, bundle, now, vault, max_size=max_size, parsed=parsed)
        return BundleResult(index, response, replayed)
    except DomainError as error:
        return BundleResult(index, error=error)
    except IntegrityError:
        # The same bundle filed at the same moment by a concurrent retry: one of them won.
        conflict = SubmissionConflict("this bundle is being filed by another request: send it again", field="Bundle")
        return BundleResult(index, error=conflict)
    except Exception as error:  # one bundle's failure must not lose the others'
        # The message may quote health data: the type and the frames are logged, never the text.
        frames = "".join(traceback.format_tb(error.__traceback__)[-4:])
        log.error("bundle failed", error_type=type(error).__name__, index=index, frames=frames)
        return BundleResult(index, error=DomainError("internal error; it has been logged"), unexpected=True)


def submit_batch(
    sessions: sessionmaker[Session],
    actor: Actor,
    bundles: Sequence[Any],
    now: datetime,
    vault: Vault,
    *,
    max_size: int,
    on_result: Callable[[BundleResult], None] | None = None,
) -> list[BundleResult]:
    """File each bundle on its own (an item that is an error stands for an entry the edge already
    refused); one journal entry on the system chain sums the batch up."""
    require_feeding(sessions, actor, now)
    if not bundles:
        raise InvalidInput("the batch holds no bundle", field="Bundle.entry")
    if len(bundles) > MAX_BUNDLES:
        raise InvalidInput(f"a batch holds at most {MAX_BUNDLES} bundles", field="Bundle.entry")
    results = []
    for index, bundle in enumerate(bundles):
        if isinstance(bundle, DomainError):
            result = BundleResult(index, error=bundle)  # refused by the edge already (a malformed entry)
        else:
            result = file_one(sessions, actor, index, bundle, now, vault, max_size=max_size)
        results.append(result)
        if on_result is not None:
            on_result(result)
    journal_batch(sessions, actor, results, now)
    return results


def journal_batch(
    sessions: sessionmaker[Session], actor: Actor, results: Sequence[BundleResult], now: datetime
) -> None:
    filed = sum(1 for r in results if r.ok and not r.replayed)
    replayed = sum(1 for r in results if r.replayed)
    with unit_of_work(sessions) as session:
        journal.append(
            session,
            actor,
            journal.Event(
                "feed:batch",
                "platform",
                None,
                reason=f"bundles={len(results)};filed={filed};replayed={replayed};"
                f"refused={len(results) - filed - replayed}",
            ),
            record_id=None,
            at=now,
        )


def member_profession(session: Session, rpps: str, finess: str) -> str | None:
    """The profession of a professional working in the organisation (the directory's activity
    lines), None when they do not: software acts only for its organisation's members."""
    profession: str | None = session.execute(
        select(Professional.profession)
        .join(ProfessionalActivity, ProfessionalActivity.professional_id == Professional.id)
        .join(Organisation, Organisation.id == ProfessionalActivity.organisation_id)
        .where(Professional.rpps == rpps, Organisation.finess == finess)
        .limit(1)
    ).scalar_one_or_none()
    return profession
