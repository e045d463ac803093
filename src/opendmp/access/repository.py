"""The habilitation matrix in the database: the newest version applies. A version never changes
once written, so each is parsed once per process (cached by its content digest); only the
current version's number and digest are read per request (one indexed read), which makes an
operator's import effective on the next request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from opendmp.access.models import MatrixEntry, MatrixVersion
from opendmp.access.rules import HabilitationMatrix, default_matrix

_CACHE: dict[str, HabilitationMatrix] = {}


def current_matrix(session: Session) -> HabilitationMatrix:
    row = session.execute(
        select(MatrixVersion.version, MatrixVersion.digest).order_by(MatrixVersion.version.desc()).limit(1)
    ).first()
    if row is None:
        return default_matrix()
    version, digest = row
    cached = _CACHE.get(digest)
    if cached is None or cached.version != version:
        cached = matrix_version(session, version)
        _CACHE[digest] = cached
    return cached


def matrix_version(session: Session, version: int) -> HabilitationMatrix:
    rows = session.execute(
        select(MatrixEntry.profession, MatrixEntry.class_code).where(MatrixEntry.version == version)
    ).all()
    return HabilitationMatrix(version, frozenset((p, c) for p, c in rows))


def add_version(session: Session, matrix: HabilitationMatrix, *, at: datetime, by: str, note: str | None) -> int:
    """Store `matrix` as the next version; returns its number."""
    latest = session.execute(select(MatrixVersion.version).order_by(MatrixVersion.version.desc()).limit(1)).scalar()
    version = (latest or 0) + 1
    session.add(MatrixVersion(version=version, created_at=at, created_by=by, note=note, digest=matrix.digest))
    session.flush()
    if matrix.allowed:
        session.execute(
            insert(MatrixEntry),
            [{"version": version, "profession": p, "class_code": c} for p, c in sorted(matrix.allowed)],
        )
    return version


def versions(session: Session) -> list[MatrixVersion]:
    return list(session.execute(select(MatrixVersion).order_by(MatrixVersion.version)).scalars())
