"""Monthly remuneration statements (pharmacies by FINESS, nurses by RPPS) from the ledger, as CSV
and PDF, and the operator's edits of the rule table (amounts, payees, dates of effect).

A statement lists, day by day, the records its payee opened and what they earned: counts and
amounts, never a record id or a patient (the payee knows whom it opened for; the statement is
what the insurer pays). Entries still held (pharmacy unknown) are not anyone's yet: an operator
assigns them first (`opendmp ledger assign`)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action, Payee
from opendmp.identity.actor import Actor
from opendmp.identity.models import Organisation, Professional
from opendmp.journal import service as journal
from opendmp.kit.errors import BusinessRuleViolation, InvalidInput
from opendmp.stats.models import Beneficiary, EntryStatus, RemunerationEntry, RemunerationRule


def parse_month(text: str, *, field_name: str = "month") -> date:
    """'2026-10' → 2026-10-01."""
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError as error:
        raise InvalidInput(f"a month is YYYY-MM, not {text!r}", field=field_name) from error


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


@dataclass(slots=True)
class Statement:
    payee: Payee
    name: str
    month: date
    days: list[tuple[date, int, int]] = field(default_factory=list)  # day, openings, cents

    @property
    def openings(self) -> int:
        return sum(n for _, n, _ in self.days)

    @property
    def total_cents(self) -> int:
        return sum(c for _, _, c in self.days)


def _name(session: Session, payee: Payee) -> str:
    if payee.kind == Beneficiary.PHARMACY.value:
        name = session.execute(select(Organisation.name).where(Organisation.finess == payee.identifier)).scalar()
    else:
        row = session.execute(
            select(Professional.family, Professional.given).where(Professional.rpps == payee.identifier)
        ).first()
        name = f"{row[1]} {row[0]}" if row else None
    return name or "inconnu de l'annuaire"


def statement_for(session: Session, actor: Actor, payee: Payee, month: date, now: datetime) -> Statement:
    """One payee's statement of one month: its own for a pharmacist or nurse, any for operators
    (policy action remuneration:statement; a refusal is journaled). The read is journaled."""
    if payee.kind not in {b.value for b in Beneficiary}:
        raise InvalidInput("a payee is a pharmacy or a nurse", field="beneficiary")
    access.require(session, actor, Action.REMUNERATION_STATEMENT, payee, now)
    column = RemunerationEntry.finess if payee.kind == Beneficiary.PHARMACY.value else RemunerationEntry.rpps
    rows = session.execute(
        select(RemunerationEntry.earned_on, func.count(), func.sum(RemunerationEntry.amount_cents))
        .where(
            column == payee.identifier,
            RemunerationEntry.beneficiary == payee.kind,
            RemunerationEntry.status == EntryStatus.DUE.value,
            RemunerationEntry.earned_on >= month,
            RemunerationEntry.earned_on < _next_month(month),
        )
        .group_by(RemunerationEntry.earned_on)
        .order_by(RemunerationEntry.earned_on)
    )
    statement = Statement(payee, _name(session, payee), month, [(d, int(n), int(c)) for d, n, c in rows])
    journal.append(
        session,
        actor,
        journal.Event("remuneration:statement", payee.kind, payee.identifier, reason=f"month={month:%Y-%m}"),
        record_id=None,
        at=now,
    )
    return statement


def payees_of_month(session: Session, actor: Actor, month: date, now: datetime) -> list[Payee]:
    """Every payee with something due this month (operators: the monthly run)."""
    access.require(session, actor, Action.REMUNERATION_RULES, None, now)
    window = (
        RemunerationEntry.status == EntryStatus.DUE.value,
        RemunerationEntry.earned_on >= month,
        RemunerationEntry.earned_on < _next_month(month),
    )
    pharmacies = session.execute(
        select(RemunerationEntry.finess).where(*window, RemunerationEntry.finess.is_not(None)).distinct()
    ).scalars()
    nurses = session.execute(
        select(RemunerationEntry.rpps).where(*window, RemunerationEntry.rpps.is_not(None)).distinct()
    ).scalars()
    return sorted(
        [Payee(Beneficiary.PHARMACY.value, f) for f in pharmacies if f]
        + [Payee(Beneficiary.NURSE.value, r) for r in nurses if r],
        key=lambda p: (p.kind, p.identifier),
    )


def to_csv(statements: list[Statement]) -> str:
    """One line per payee and day; `;`-separated, amounts in euros with a decimal comma."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["mois", "beneficiaire", "identifiant", "nom", "jour", "ouvertures", "montant_eur"])
    for s in statements:
        for day, n, cents in s.days:
            writer.writerow([f"{s.month:%Y-%m}", s.payee.kind, s.payee.identifier, s.name, day, n, _euros(cents)])
    return out.getvalue()


def _euros(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")  # the PDF core fonts speak Latin-1


def to_pdf(statements: list[Statement]) -> bytes:
    """One A4 page (or more) per payee: header, the day-by-day table, the total."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title("Relevé de rémunération DMP")
    pdf.set_creator("OpenDMP")
    pdf.set_margins(20, 20, 20)
    for s in statements or []:
        pdf.add_page()
        label = "Pharmacie (FINESS)" if s.payee.kind == Beneficiary.PHARMACY.value else "Infirmier(e) (RPPS)"
        pdf.set_font("Helvetica", "B", 14)
        pdf.cell(0, 8, _latin1(f"Relevé de rémunération DMP — {s.month:%m/%Y}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.cell(0, 6, _latin1(f"{label} : {s.payee.identifier} — {s.name}"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 10)
        for text, width in (("Jour", 50), ("DMP ouverts", 50), ("Montant (EUR)", 50)):
            pdf.cell(width, 7, _latin1(text), border=1)
        pdf.ln()
        pdf.set_font("Helvetica", "", 10)
        for day, n, cents in s.days:
            pdf.cell(50, 6, f"{day:%d/%m/%Y}", border=1)
            pdf.cell(50, 6, str(n), border=1, align="R")
            pdf.cell(50, 6, _euros(cents), border=1, align="R")
            pdf.ln()
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(50, 7, "Total", border=1)
        pdf.cell(50, 7, str(s.openings), border=1, align="R")
        pdf.cell(50, 7, _euros(s.total_cents), border=1, align="R")
        pdf.ln()
    if not statements:
        pdf.add_page()
        pdf.set_font("Helvetica", "", 11)
        pdf.cell(0, 8, _latin1("Aucune rémunération due ce mois-ci."))
    return bytes(pdf.output())


# ---------------------------------------------------------------- the rule table


@dataclass(frozen=True, slots=True)
class RuleIn:
    channel: str
    beneficiary: str
    amount_cents: int
    effective_from: date
    effective_until: date | None = None


class RulesOverlap(BusinessRuleViolation):
    pass


def list_rules(session: Session, actor: Actor, now: datetime) -> list[RemunerationRule]:
    access.require(session, actor, Action.REMUNERATION_RULES, None, now)
    return list(
        session.execute(
            select(RemunerationRule).order_by(
                RemunerationRule.channel, RemunerationRule.beneficiary, RemunerationRule.effective_from
            )
        ).scalars()
    )


def set_rule(session: Session, actor: Actor, rule: RuleIn, now: datetime) -> RemunerationRule:
    """A new amount from a date of effect: the rule in force for the same channel and payee ends
    that day (rules never overlap, so an opening earns once). Past openings keep what they earned:
    the ledger's entries are written at opening time. Journaled."""
    access.require(session, actor, Action.REMUNERATION_RULES, None, now)
    if rule.beneficiary not in {b.value for b in Beneficiary}:
        raise InvalidInput("the payee is 'pharmacy' or 'nurse'", field="beneficiary")
    from opendmp.record.models import Channel

    if rule.channel not in {c.value for c in Channel}:
        raise InvalidInput(f"unknown channel {rule.channel!r}", field="channel")
    if rule.amount_cents < 0:
        raise InvalidInput("the amount cannot be negative", field="amount")
    if rule.effective_until is not None and rule.effective_until <= rule.effective_from:
        raise InvalidInput("the end must come after the start", field="until")
    same = list(
        session.execute(
            select(RemunerationRule)
            .where(RemunerationRule.channel == rule.channel, RemunerationRule.beneficiary == rule.beneficiary)
            .with_for_update()
        ).scalars()
    )
    ends: dict[str, date | None] = defaultdict(lambda: None)
    for existing in same:
        starts_before = existing.effective_from < rule.effective_from
        open_ended = existing.effective_until is None or existing.effective_until > rule.effective_from
        if starts_before and open_ended and existing.effective_until is None:
            existing.effective_until = rule.effective_from  # superseded from the new date
            ends[str(existing.id)] = rule.effective_from
            continue
        new_end = rule.effective_until
        overlaps = existing.effective_from < (new_end or date.max) and rule.effective_from < (
            existing.effective_until or date.max
        )
        if overlaps:
            raise RulesOverlap(
                f"a rule for {rule.channel}/{rule.beneficiary} already applies from {existing.effective_from}",
                field="from",
            )
    created = RemunerationRule(
        channel=rule.channel,
        beneficiary=rule.beneficiary,
        amount_cents=rule.amount_cents,
        effective_from=rule.effective_from,
        effective_until=rule.effective_until,
    )
    session.add(created)
    session.flush()
    journal.append(
        session,
        actor,
        journal.Event(
            "remuneration:rules",
            "remuneration-rule",
            str(created.id),
            reason=f"{rule.channel}/{rule.beneficiary}={rule.amount_cents}c from {rule.effective_from}"
            + (f";ended={','.join(f'{k}@{v}' for k, v in ends.items())}" if ends else ""),
        ),
        record_id=None,
        at=now,
    )
    return created
