"""Remuneration ledger: €1 to the pharmacy (by FINESS) for each record opened there from 2018,
€1 to the nurse (by RPPS) from 2020 (avenants conventionnels). The amounts and dates of effect
are rows of `remuneration_rule`, editable by an operator, not constants."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.identity.actor import Actor
from opendmp.identity.models import Organisation
from opendmp.kit.ids import new_id
from opendmp.stats.models import Beneficiary, EntryStatus, RemunerationRule


@dataclass(frozen=True, slots=True)
class Rule:
    id: uuid.UUID
    channel: str
    beneficiary: str
    amount_cents: int
    effective_from: date
    effective_until: date | None

    def applies(self, channel: str, on: date) -> bool:
        return (
            self.channel == channel
            and self.effective_from <= on
            and (self.effective_until is None or on < self.effective_until)
        )


def load_rules(session: Session) -> list[Rule]:
    return [
        Rule(r.id, r.channel, r.beneficiary, r.amount_cents, r.effective_from, r.effective_until)
        for r in session.execute(select(RemunerationRule)).scalars()
    ]


def known_pharmacies(session: Session, finess: Sequence[str]) -> set[str]:
    if not finess:
        return set()
    return set(
        session.execute(
            select(Organisation.finess).where(Organisation.finess.in_(finess), Organisation.kind == "pharmacy")
        ).scalars()
    )


def plan_entries(
    rules: Sequence[Rule],
    actor: Actor,
    channel: str,
    record_id: uuid.UUID,
    at: datetime,
    pharmacy_known: bool,
) -> list[dict[str, Any]]:
    """The ledger rows an opening earns. Pure: used by `open_record` and by the bulk seeder."""
    rows: list[dict[str, Any]] = []
    for rule in rules:
        if not rule.applies(channel, at.date()):
            continue
        row: dict[str, Any] = {
            "id": new_id(),
            "record_id": record_id,
            "rule_id": rule.id,
            "beneficiary": rule.beneficiary,
            "finess": None,
            "rpps": None,
            "amount_cents": rule.amount_cents,
            "earned_on": at.date(),
            "status": EntryStatus.DUE.value,
            "created_at": at,
            "assigned_by": None,
        }
        if rule.beneficiary == Beneficiary.PHARMACY.value:
            row["finess"] = actor.organisation if pharmacy_known else None
            if not pharmacy_known:
                row["status"] = EntryStatus.HELD.value  # an operator assigns the pharmacy
        else:
            row["rpps"] = actor.rpps
        rows.append(row)
    return rows
