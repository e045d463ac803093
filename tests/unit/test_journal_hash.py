"""The journal's hash is reproducible by an auditor from the documented canonical form."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from opendmp.identity.actor import Actor
from opendmp.journal.service import Event, build_entry, canonical_json, entry_hash, iso

VALUES = st.one_of(st.text(), st.integers(min_value=-(2**53), max_value=2**53), st.none())


@settings(max_examples=500)
@given(st.dictionaries(st.text(), VALUES, max_size=14))
def test_the_canonical_form_is_sorted_compact_utf8_json(payload: dict[str, Any]) -> None:
    documented = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert canonical_json(payload) == documented


@given(st.datetimes(min_value=datetime(1900, 1, 1), timezones=st.just(UTC)))
def test_times_are_written_in_utc_with_microseconds(at: datetime) -> None:
    text = iso(at)
    assert text == at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_an_auditor_recomputes_an_entry_hash_with_the_standard_library_alone() -> None:
    entry = build_entry(
        "system",
        1,
        "0" * 64,
        datetime(2026, 6, 1, 10, 0, 0, 123456, tzinfo=UTC),
        Actor.professional("10000000002", "10", "750000001"),
        Event("record:open", "record", "x", reason="channel=health-professional é"),
    )
    fields = {
        k: entry[k]
        for k in (
            "chain",
            "seq",
            "actor_kind",
            "actor_id",
            "actor_organisation",
            "action",
            "target_type",
            "target_id",
            "outcome",
            "reason",
            "source_address",
            "prev_hash",
        )
    }
    fields["at"] = "2026-06-01T10:00:00.123456Z"
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == entry["hash"] == entry_hash(entry)
