"""Internal ids are random (UUID v4): never sequential, never guessable in URLs."""

from __future__ import annotations

import uuid


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def parse_id(text: str) -> uuid.UUID | None:
    """An id from a URL, or None when it is not one of ours (so the edge answers 404, not 500)."""
    try:
        value = uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return None
    return value if value.version == 4 else None
