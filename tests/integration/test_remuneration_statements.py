"""Monthly remuneration statements from the ledger (pharmacies by FINESS, nurses by RPPS), read by
their payee or an operator only, as CSV and PDF; the rule table edited by operators, a new amount
ending the one in force. Both databases."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from opendmp.access.policy import Payee
from opendmp.identity.actor import Actor
from opendmp.journal.models import JournalEntry
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import AccessDenied
from opendmp.runtime import Runtime
from opendmp.stats import statements
from tests import factories as f

OPERATOR = Actor.operator("ops-1")
PHARMACY, OTHER_PHARMACY = "750000001", "750000002"
JUNE = date(2026, 6, 1)


def _statement(runtime: Runtime, actor: Actor, payee: Payee, month: date = JUNE) -> statements.Statement:
    with unit_of_work(runtime.sessions) as session:
        return statements.statement_for(session, actor, payee, month, runtime.clock.now())


def _openers(runtime: Runtime) -> tuple[Actor, Actor, Actor]:
    f.add_organisation(runtime, PHARMACY, "pharmacy", name="Pharmacie du Centre")
    f.add_organisation(runtime, OTHER_PHARMACY, "pharmacy", name="Pharmacie de la Gare")
    pharmacist = f.add_professional(runtime, "10000000021", "21", finess=PHARMACY)
    colleague = f.add_professional(runtime, "10000000022", "21", finess=OTHER_PHARMACY)
    nurse = f.add_professional(runtime, "10000000060", "60", family="DUPONT", given="Marie")
    return pharmacist, colleague, nurse


def test_a_pharmacys_statement_lists_its_openings_of_the_month_day_by_day_with_the_total(
    runtime: Runtime, clock: FrozenClock
) -> None:
    pharmacist, colleague, nurse = _openers(runtime)
    f.open_record(runtime, pharmacist, *f.person(order=1))
    f.open_record(runtime, pharmacist, *f.person(order=2))
    f.open_record(runtime, colleague, *f.person(order=3))  # another pharmacy's
    f.open_record(runtime, nurse, *f.person(order=4))
    clock.advance(timedelta(days=2))
    f.open_record(runtime, pharmacist, *f.person(order=5))
    clock.advance(timedelta(days=30))  # July: not in June's statement
    f.open_record(runtime, pharmacist, *f.person(order=6))
    june = _statement(runtime, OPERATOR, Payee("pharmacy", PHARMACY))
    assert june.name == "Pharmacie du Centre"
    assert june.days == [(date(2026, 6, 1), 2, 200), (date(2026, 6, 3), 1, 100)]
    assert (june.openings, june.total_cents) == (3, 300)
    nurse_june = _statement(runtime, OPERATOR, Payee("nurse", "10000000060"))
    assert (nurse_june.name, nurse_june.total_cents) == ("Marie DUPONT", 100)
    with unit_of_work(runtime.sessions) as session:
        payees = statements.payees_of_month(session, OPERATOR, JUNE, runtime.clock.now())
    assert payees == [Payee("nurse", "10000000060"), Payee("pharmacy", PHARMACY), Payee("pharmacy", OTHER_PHARMACY)]


def test_a_pharmacist_reads_only_their_pharmacys_statement_and_a_nurse_only_their_own(runtime: Runtime) -> None:
    pharmacist, colleague, nurse = _openers(runtime)
    f.open_record(runtime, pharmacist, *f.person(order=1))
    assert _statement(runtime, pharmacist, Payee("pharmacy", PHARMACY)).total_cents == 100
    assert _statement(runtime, nurse, Payee("nurse", "10000000060")).total_cents == 0
    for actor, payee in (
        (colleague, Payee("pharmacy", PHARMACY)),
        (nurse, Payee("pharmacy", PHARMACY)),
        (pharmacist, Payee("nurse", "10000000060")),
        (Actor.counter_agent("agent-1", PHARMACY), Payee("pharmacy", PHARMACY)),
        (Actor.software("lps-1", PHARMACY, "10000000021", "21"), Payee("pharmacy", PHARMACY)),
    ):
        with pytest.raises(AccessDenied):
            _statement(runtime, actor, payee)
    with runtime.sessions() as session:
        actions = session.execute(select(JournalEntry.action, JournalEntry.outcome)).all()
    assert ("remuneration:statement", "denied") in actions and ("remuneration:statement", "success") in actions


def test_a_new_amount_ends_the_rule_in_force_and_applies_from_its_date(runtime: Runtime, clock: FrozenClock) -> None:
    pharmacist, _, _ = _openers(runtime)
    tomorrow = clock.now().date() + timedelta(days=1)
    with unit_of_work(runtime.sessions) as session:
        statements.set_rule(session, OPERATOR, statements.RuleIn("pharmacy", "pharmacy", 150, tomorrow), clock.now())
    f.open_record(runtime, pharmacist, *f.person(order=1))  # today: the old euro
    clock.advance(timedelta(days=1))
    f.open_record(runtime, pharmacist, *f.person(order=2))  # from tomorrow: 1.50
    assert _statement(runtime, OPERATOR, Payee("pharmacy", PHARMACY)).days == [
        (date(2026, 6, 1), 1, 100),
        (date(2026, 6, 2), 1, 150),
    ]
    with unit_of_work(runtime.sessions) as session:
        rules = [
            (r.amount_cents, r.effective_from, r.effective_until)
            for r in statements.list_rules(session, OPERATOR, clock.now())
            if r.channel == "pharmacy"
        ]
    assert rules == [(100, date(2018, 1, 1), tomorrow), (150, tomorrow, None)]


def test_overlapping_or_malformed_rules_are_refused_and_only_operators_edit_them(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with unit_of_work(runtime.sessions) as session:
        statements.set_rule(session, OPERATOR, statements.RuleIn("nurse", "nurse", 120, date(2027, 1, 1)), now)
    for rule in (
        statements.RuleIn("nurse", "nurse", 130, date(2026, 12, 1), date(2027, 2, 1)),  # overlaps 2027
        statements.RuleIn("nurse", "dentist", 100, date(2028, 1, 1)),
        statements.RuleIn("by-pigeon", "nurse", 100, date(2028, 1, 1)),
        statements.RuleIn("nurse", "nurse", -1, date(2028, 1, 1)),
    ):
        with pytest.raises(Exception) as refused, unit_of_work(runtime.sessions) as session:
            statements.set_rule(session, OPERATOR, rule, now)
        assert getattr(refused.value, "field", None) in {"from", "beneficiary", "channel", "amount"}
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions) as session:
        statements.set_rule(
            session,
            f.add_professional(runtime, "10000000060", "60"),
            statements.RuleIn("nurse", "nurse", 999, date(2029, 1, 1)),
            now,
        )


def test_statements_render_as_csv_and_pdf(runtime: Runtime) -> None:
    pharmacist, _, _ = _openers(runtime)
    f.open_record(runtime, pharmacist, *f.person(order=1))
    june = _statement(runtime, OPERATOR, Payee("pharmacy", PHARMACY))
    assert statements.to_csv([june]).splitlines() == [
        "mois;beneficiaire;identifiant;nom;jour;ouvertures;montant_eur",
        "2026-06;pharmacy;750000001;Pharmacie du Centre;2026-06-01;1;1,00",
    ]
    text = PdfReader(io.BytesIO(statements.to_pdf([june]))).pages[0].extract_text()
    assert "750000001" in text and "Pharmacie du Centre" in text and "1,00" in text
