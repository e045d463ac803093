"""The habilitation matrix, versioned: operators import a new version, the newest one applies,
and every earlier version stays for the record of what was allowed when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base


class MatrixVersion(Base):
    __tablename__ = "habilitation_matrix_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))
    # SHA-256 of the allowed pairs: the process cache is keyed by content, never by number alone.
    digest: Mapped[str] = mapped_column(String(64))


class MatrixEntry(Base):
    """One allowed (profession, class code) pair of one version; absence means refused."""

    __tablename__ = "habilitation_matrix_entry"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    profession: Mapped[str] = mapped_column(String(4), primary_key=True)
    class_code: Mapped[str] = mapped_column(String(60), primary_key=True)
