"""Tables of the software clients (OAuth2 client credentials with private_key_jwt): reference
tables, small and replicated on Citus; they hold public keys only, never a secret."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class ClientStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class SoftwareClient(Base):
    """Professional or establishment software registered to one organisation. Its id is the
    OAuth2 client id; the verifier reads `status` by primary key on every request."""

    __tablename__ = "software_client"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(String(200))  # allowed scopes, space-separated
    jwks: Mapped[str] = mapped_column(Text)  # the public JWKS, as JSON
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class ClientAssertionJti(Base):
    """Client assertions already used, kept until they expire (RFC 7523 §3, item 7): a replay
    finds its jti here. Rows of a client are purged at its next token request."""

    __tablename__ = "client_assertion_jti"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("software_client.id"), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime]
