"""foundation: records, identities, journal, ledger

Revision ID: 0001
Revises:
Create Date: 2026-11-22 15:32:38.648504
"""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_entry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("actor_organisation", sa.String(length=9), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("target_type", sa.String(length=30), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("source_address", sa.String(length=45), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entry")),
        sa.UniqueConstraint("chain", "seq", name=op.f("uq_journal_entry_chain_seq")),
    )
    with op.batch_alter_table("journal_entry", schema=None) as batch_op:
        batch_op.create_index("ix_journal_entry_chain_at", ["chain", "at"], unique=False)

    op.create_table(
        "journal_head",
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_journal_head")),
    )
    op.create_table(
        "organisation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("finess", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("department", sa.String(length=3), nullable=True),
        sa.Column("region", sa.String(length=2), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation")),
        sa.UniqueConstraint("finess", name=op.f("uq_organisation_finess")),
    )
    op.create_table(
        "professional",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=False),
        sa.Column("profession", sa.String(length=4), nullable=False),
        sa.Column("specialty", sa.String(length=20), nullable=True),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("given", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_professional")),
        sa.UniqueConstraint("rpps", name=op.f("uq_professional_rpps")),
    )
    op.create_table(
        "record",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("opening_policy", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("opened_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_by_kind", sa.String(length=20), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_by_organisation", sa.String(length=9), nullable=True),
        sa.Column("consent_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consent_method", sa.String(length=30), nullable=True),
        sa.Column("consent_collected_by", sa.String(length=64), nullable=True),
        sa.Column("objection_deadline", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=30), nullable=True),
        sa.Column("purge_after", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deletion_requested_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deletion_due", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suspended_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suspension_reason", sa.String(length=200), nullable=True),
        sa.Column("deceased_on", sa.Date(), nullable=True),
        sa.Column("merged_into", sa.Uuid(), nullable=True),
        sa.Column("purged_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["merged_into"], ["record.id"], name=op.f("fk_record_merged_into_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record")),
    )
    op.create_table(
        "remuneration_rule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("beneficiary", sa.String(length=20), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_until", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remuneration_rule")),
    )
    op.create_table(
        "authorisation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("granted_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("granted_via", sa.String(length=30), nullable=False),
        sa.Column("declared_by", sa.String(length=64), nullable=True),
        sa.Column("expires_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_authorisation_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorisation")),
    )
    with op.batch_alter_table("authorisation", schema=None) as batch_op:
        batch_op.create_index("ix_authorisation_record_rpps", ["record_id", "rpps"], unique=False)

    op.create_table(
        "heir_access_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("relationship", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("requested_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_heir_access_request_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heir_access_request")),
    )
    with op.batch_alter_table("heir_access_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_heir_access_request_record_id"), ["record_id"], unique=False)

    op.create_table(
        "ins_lookup",
        sa.Column("ins_system", sa.String(length=40), nullable=False),
        sa.Column("ins_value", sa.String(length=15), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_ins_lookup_record_id_record")),
        sa.PrimaryKeyConstraint("ins_system", "ins_value", name=op.f("pk_ins_lookup")),
    )
    with op.batch_alter_table("ins_lookup", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ins_lookup_record_id"), ["record_id"], unique=False)

    op.create_table(
        "legal_representative",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("ins_system", sa.String(length=40), nullable=False),
        sa.Column("ins_value", sa.String(length=15), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("given", sa.String(length=100), nullable=False),
        sa.Column("added_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_legal_representative_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_representative")),
    )
    with op.batch_alter_table("legal_representative", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_representative_record_id"), ["record_id"], unique=False)

    op.create_table(
        "patient",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("ins_system", sa.String(length=40), nullable=False),
        sa.Column("ins_value", sa.String(length=15), nullable=False),
        sa.Column("birth_family", sa.String(length=100), nullable=False),
        sa.Column("given_names", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("gender", sa.String(length=10), nullable=False),
        sa.Column("birthplace_code", sa.String(length=5), nullable=False),
        sa.Column("residence_department", sa.String(length=3), nullable=True),
        sa.Column("updated_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_patient_record_id_record")),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_patient")),
    )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index("ix_patient_ins", ["ins_system", "ins_value"], unique=False)

    op.create_table(
        "professional_activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("professional_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_professional_activity_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["professional_id"],
            ["professional.id"],
            name=op.f("fk_professional_activity_professional_id_professional"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_professional_activity")),
        sa.UniqueConstraint(
            "professional_id",
            "organisation_id",
            name=op.f("uq_professional_activity_professional_id_organisation_id"),
        ),
    )
    with op.batch_alter_table("professional_activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_professional_activity_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_professional_activity_professional_id"), ["professional_id"], unique=False)

    op.create_table(
        "remuneration_entry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("beneficiary", sa.String(length=20), nullable=False),
        sa.Column("finess", sa.String(length=9), nullable=True),
        sa.Column("rpps", sa.String(length=11), nullable=True),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("earned_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_remuneration_entry_record_id_record")),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["remuneration_rule.id"],
            name=op.f("fk_remuneration_entry_rule_id_remuneration_rule"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remuneration_entry")),
    )
    with op.batch_alter_table("remuneration_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remuneration_entry_finess"), ["finess"], unique=False)
        batch_op.create_index(batch_op.f("ix_remuneration_entry_record_id"), ["record_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_remuneration_entry_rpps"), ["rpps"], unique=False)

    op.create_table(
        "traits_lookup",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_traits_lookup_record_id_record")),
        sa.PrimaryKeyConstraint("digest", "record_id", name=op.f("pk_traits_lookup")),
    )
    # Remuneration rules of the 2018 and 2020 agreements (€1 per record opened); fixed ids so
    # every installation has the same rule rows. Operators edit them later (stats issue).
    rules = sa.table(
        "remuneration_rule",
        sa.column("id", sa.Uuid()),
        sa.column("channel", sa.String()),
        sa.column("beneficiary", sa.String()),
        sa.column("amount_cents", sa.Integer()),
        sa.column("effective_from", sa.Date()),
        sa.column("effective_until", sa.Date()),
    )
    op.bulk_insert(
        rules,
        [
            {
                "id": uuid.UUID("5c1f4b2e-0f4e-4d43-9a57-2f3c8f1f2018"),
                "channel": "pharmacy",
                "beneficiary": "pharmacy",
                "amount_cents": 100,
                "effective_from": date(2018, 1, 1),
                "effective_until": None,
            },
            {
                "id": uuid.UUID("8e0a9d7c-3b1a-4f6e-8d2c-6a4b1c9e2020"),
                "channel": "nurse",
                "beneficiary": "nurse",
                "amount_cents": 100,
                "effective_from": date(2020, 1, 1),
                "effective_until": None,
            },
        ],
    )


def downgrade() -> None:
    op.drop_table("traits_lookup")
    with op.batch_alter_table("remuneration_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remuneration_entry_rpps"))
        batch_op.drop_index(batch_op.f("ix_remuneration_entry_record_id"))
        batch_op.drop_index(batch_op.f("ix_remuneration_entry_finess"))

    op.drop_table("remuneration_entry")
    with op.batch_alter_table("professional_activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_professional_activity_professional_id"))
        batch_op.drop_index(batch_op.f("ix_professional_activity_organisation_id"))

    op.drop_table("professional_activity")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_ins")

    op.drop_table("patient")
    with op.batch_alter_table("legal_representative", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_representative_record_id"))

    op.drop_table("legal_representative")
    with op.batch_alter_table("ins_lookup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ins_lookup_record_id"))

    op.drop_table("ins_lookup")
    with op.batch_alter_table("heir_access_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_heir_access_request_record_id"))

    op.drop_table("heir_access_request")
    with op.batch_alter_table("authorisation", schema=None) as batch_op:
        batch_op.drop_index("ix_authorisation_record_rpps")

    op.drop_table("authorisation")
    op.drop_table("remuneration_rule")
    op.drop_table("record")
    op.drop_table("professional")
    op.drop_table("organisation")
    op.drop_table("journal_head")
    with op.batch_alter_table("journal_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_entry_chain_at")

    op.drop_table("journal_entry")
