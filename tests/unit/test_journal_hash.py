"""The journal's hashes are reproducible by an auditor from the documented canonical forms, and
the fast encodings audit verify uses are exactly those forms."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from opendmp.identity.actor import Actor
from opendmp.journal.service import (
    PAYLOAD_FIELDS,
    Event,
    build_entry,
    canonical_json,
    entry_hash,
    entry_payload_hash,
    header_hash,
    header_hash_checked,
    iso,
    payload_hash,
)

VALUES = st.one_of(st.text(), st.integers(min_value=-(2**53), max_value=2**53), st.none())
HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)
CHAINS = st.one_of(st.just("system"), st.text("0123456789abcdef", min_size=32, max_size=32))
MOMENTS = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC))


def documented(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@settings(max_examples=500)
@given(st.dictionaries(st.text(), VALUES, max_size=14))
def test_the_canonical_form_is_sorted_compact_utf8_json(payload: dict[str, Any]) -> None:
    assert canonical_json(payload) == documented(payload)


@given(MOMENTS)
def test_times_are_written_in_utc_with_microseconds(at: datetime) -> None:
    assert iso(at) == at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@settings(max_examples=300)
@given(st.lists(st.one_of(st.none(), st.text()), min_size=len(PAYLOAD_FIELDS), max_size=len(PAYLOAD_FIELDS)))
def test_the_payload_hash_is_the_sha256_of_the_documented_payload_json(values: list[str | None]) -> None:
    fields = dict(zip(PAYLOAD_FIELDS, values, strict=True))
    expected = hashlib.sha256(documented(fields)).hexdigest()
    assert payload_hash(*values) == expected == entry_payload_hash(fields)


@given(CHAINS, st.integers(min_value=1, max_value=2**62), MOMENTS, HEX64, HEX64)
def test_the_entry_hash_is_the_sha256_of_the_documented_header_json(
    chain: str, seq: int, at: datetime, prev: str, payload: str
) -> None:
    header = {"at": iso(at), "chain": chain, "payload_hash": payload, "prev_hash": prev, "seq": seq}
    expected = hashlib.sha256(documented(header)).hexdigest()
    assert header_hash(chain, seq, iso(at), prev, payload) == expected


@given(st.text(), st.text(), st.text())
def test_headers_with_values_that_need_escaping_follow_the_documented_form(chain: str, at: str, prev: str) -> None:
    header = {"at": at, "chain": chain, "payload_hash": "0" * 64, "prev_hash": prev, "seq": 3}
    assert header_hash_checked(chain, 3, at, prev, "0" * 64) == hashlib.sha256(documented(header)).hexdigest()


def test_an_auditor_recomputes_both_hashes_of_an_entry_with_the_standard_library_alone() -> None:
    entry = build_entry(
        "system",
        1,
        "0" * 64,
        datetime(2026, 6, 1, 10, 0, 0, 123456, tzinfo=UTC),
        Actor.professional("10000000002", "10", "750000001").at("192.0.2.7"),
        Event("record:open", "record", "x", reason="channel=health-professional é", purpose="care"),
    )
    payload = {name: entry[name] for name in PAYLOAD_FIELDS}
    assert payload["purpose"] == "care" and payload["source_address"] == "192.0.2.7"
    payload_text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(payload_text.encode("utf-8")).hexdigest() == entry["payload_hash"]
    header = {
        "chain": "system",
        "seq": 1,
        "at": "2026-06-01T10:00:00.123456Z",
        "prev_hash": "0" * 64,
        "payload_hash": entry["payload_hash"],
    }
    header_text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(header_text.encode("utf-8")).hexdigest() == entry["hash"] == entry_hash(entry)


def test_an_entry_without_purpose_hashes_purpose_as_null() -> None:
    entry = build_entry(
        "system", 1, "0" * 64, datetime(2026, 6, 1, tzinfo=UTC), Actor.system("job:x"), Event("a:b", "t", None)
    )
    assert entry["purpose"] is None
    assert b'"purpose":null' in canonical_json({name: entry[name] for name in PAYLOAD_FIELDS})
