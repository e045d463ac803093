"""Claim lines: every field checked, a bad line refused with its number and reason, the others
kept; NDJSON and CSV give the same claims."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from opendmp.feed import claims, generator
from opendmp.feed.claims import FIELDS, Line, Rejected, check, ean13_ok, nir_ok, read_csv, read_ndjson
from opendmp.identity.ins import nir_key

TODAY = date(2026, 6, 1)
NIR13 = st.from_regex(r"[12][0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B)[0-9]{6}", fullmatch=True)


def good(**kw: object) -> dict[str, object]:
    line: dict[str, object] = {
        "claim_id": "C-1",
        "nir": "279057505600145",
        "care_date": "2026-05-20",
        "system": "CIP",
        "code": generator.cip13(1234567),
        "label": "DOLIPRANE",
        "quantity": 2,
        "executant_finess": "750000001",
        "paid": "4.32",
        "reimbursed": "2.81",
    }
    line["nir"] = "2790575056001" + f"{nir_key('2790575056001'):02d}"
    line.update(kw)
    return line


@given(NIR13)
def test_a_nir_with_its_key_is_accepted_and_any_other_key_refused(nir13: str) -> None:
    key = nir_key(nir13)
    assert nir_ok(f"{nir13}{key:02d}")
    wrong = (key % 97) + 1
    assert not nir_ok(f"{nir13}{wrong:02d}")
    _, claim = check(good(nir=f"{nir13}{key:02d}"), TODAY)
    assert claim.paid_cents == 432


@given(st.integers(min_value=0, max_value=9_999_999))
def test_cip13_codes_carry_their_ean13_check_digit(seven: int) -> None:
    code = generator.cip13(seven)
    assert ean13_ok(code)
    broken = code[:12] + str((int(code[12]) + 1) % 10)
    rejected = next(read_ndjson(io.BytesIO(json.dumps(good(code=broken)).encode()), TODAY))
    assert isinstance(rejected, Rejected) and "check digit" in rejected.reason


def test_each_bad_field_is_named() -> None:
    cases = {
        "system: unknown code system": good(system="ATC"),
        "code: 'G12' is not a CCAM code": good(system="CCAM", code="G12"),
        "is in the future": good(care_date=(TODAY + timedelta(days=1)).isoformat()),
        "care_date: no such day": good(care_date="2026-02-30"),
        "nir: the key does not match": good(nir="279057505600100"),
        "reimbursed: more than paid": good(reimbursed="5.00"),
        "paid is not an amount": good(paid="-3"),
        "who did it is missing": good(executant_finess=None),
        "claim_id is missing": good(claim_id=""),
        "prescriber_rpps: 11 digits": good(prescriber_rpps="123"),
    }
    for expected, fields in cases.items():
        [item] = list(read_ndjson(io.BytesIO(json.dumps(fields).encode()), TODAY))
        assert isinstance(item, Rejected) and expected in item.reason, (expected, item)


def test_bad_lines_do_not_stop_the_file_and_keep_their_numbers() -> None:
    text = b"\n".join(
        [json.dumps(good(claim_id="A")).encode(), b"{not json", b"", json.dumps(good(claim_id="B")).encode()]
    )
    items = list(read_ndjson(io.BytesIO(text), TODAY))
    assert [(type(i).__name__, i.number) for i in items] == [("Line", 1), ("Rejected", 2), ("Line", 4)]


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "system": st.sampled_from(["NGAP", "NABM", "CCAM", "LPP"]),
                "paid": st.integers(min_value=0, max_value=10**6),
                "label": st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
            }
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([",", ";"]),
)
def test_csv_and_ndjson_give_the_same_claims(rows: list[dict[str, object]], delimiter: str) -> None:
    codes = {"NGAP": "G", "NABM": "1104", "CCAM": "ZBQK002", "LPP": "1110311"}
    lines = []
    for index, row in enumerate(rows):
        paid = int(row["paid"])  # type: ignore[call-overload]
        lines.append(
            good(
                claim_id=f"L{index}",
                system=row["system"],
                code=codes[str(row["system"])],
                label=str(row["label"]).strip(),
                paid=f"{paid // 100}.{paid % 100:02d}",
                reimbursed="0.00",
            )
        )
    ndjson = io.BytesIO("".join(json.dumps(line) + "\n" for line in lines).encode())
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(FIELDS)
    for line in lines:
        writer.writerow(["" if line.get(f) is None else line.get(f) for f in FIELDS])
    from_json = [i for i in read_ndjson(ndjson, TODAY) if isinstance(i, Line)]
    from_csv = [i for i in read_csv(io.BytesIO(out.getvalue().encode()), TODAY) if isinstance(i, Line)]
    assert [i.claim for i in from_json] == [i.claim for i in from_csv]
    assert len(from_json) == len(lines)


def test_the_generator_is_deterministic_and_its_lines_are_valid() -> None:
    nirs = generator.people(5, 1)
    first = b"".join(generator.generate(200, 7, nirs, TODAY))
    assert first == b"".join(generator.generate(200, 7, nirs, TODAY))
    items = list(read_ndjson(io.BytesIO(first), TODAY))
    assert all(isinstance(i, Line) for i in items), [i for i in items if isinstance(i, Rejected)][:3]
    systems = {i.claim.system for i in items if isinstance(i, Line)}
    assert {"NGAP", "CIP", "NABM", "CCAM"} <= systems


def _verdict(fields: dict[str, object], today: date = TODAY) -> object:
    try:
        return check(fields, today)
    except ValueError as error:
        return str(error)


def test_a_cached_act_check_answers_as_a_fresh_one() -> None:
    """The act (everything but claim id, NIR and day) is checked once per distinct value: an
    accepted value never lets a look-alike through, a refusal is refused again, and the future
    is judged against each run's day."""
    assert _verdict(good(quantity=1))[1].quantity == 1  # type: ignore[index]
    assert _verdict(good(quantity=True)) == "quantity: a whole number"  # equal to 1, not a quantity
    assert _verdict(good(quantity=1.0)) == "quantity: a whole number"
    assert _verdict(good(paid=4.32))[1].paid_cents == 432  # type: ignore[index]
    for _ in range(2):
        assert _verdict(good(reimbursed="9.99")) == "reimbursed: more than paid"
    assert _verdict(good(label=["a", "list"])) == "label is not text"  # unhashable: checked uncached
    assert _verdict(good(care_date="2026-05-20"), today=date(2026, 5, 19)) == "care_date: 2026-05-20 is in the future"
    assert _verdict(good(care_date="2026-05-20"), today=date(2026, 5, 20))[1].care_date == "2026-05-20"  # type: ignore[index]


@given(
    st.fixed_dictionaries(
        {
            "system": st.sampled_from(["CCAM", "NGAP", "NABM", "CIP", "cip", "UCD", "LPP", "GHS", "XYZ", ""]),
            "code": st.sampled_from(["AAFA001", "G", "0552", generator.cip13(1234567), "3400912345678", "1234567"]),
            "quantity": st.one_of(st.none(), st.integers(-1, 1000), st.booleans(), st.sampled_from(["2", " 3", "x"])),
            "paid": st.one_of(
                st.sampled_from(["4.32", "4,32", "4.321", "30", ""]), st.integers(0, 50), st.floats(0, 50)
            ),
            "reimbursed": st.sampled_from(["2.81", "0", "100.00", None]),
            "executant_rpps": st.sampled_from([None, "", "10001234567", "1000123456"]),
        }
    )
)
def test_a_line_gets_the_same_verdict_with_warm_or_empty_caches(fields: dict[str, object]) -> None:
    """Whatever was checked before, a line's verdict depends on the line only: the verdict with
    the caches warm from earlier examples is the verdict with every cache emptied."""
    line = good(**fields)
    warm = _verdict(line)
    for cached in (claims._checked_act, claims._checked_code, claims._checked_day, claims._cents_of_text):
        cached.cache_clear()
    assert _verdict(line) == warm
