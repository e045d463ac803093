"""The pure rules of notifications: backoff, channels chosen, contact formats, what a text may say."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendmp.notify.errors import InvalidContact
from opendmp.notify.models import Category, ChannelKind, NotificationPreference, RecipientKind
from opendmp.notify.service import channels_for, mask_address, normalise_email, normalise_phone
from opendmp.notify.templates import ALLOWED_PARAMS, clean_params, render
from opendmp.notify.worker import RETRY_CAP, backoff

BOTH = {ChannelKind.EMAIL: "a@example.org", ChannelKind.SMS: "+33612345678"}
PHONE_ONLY = {ChannelKind.SMS: "+33612345678"}


def test_backoff_doubles_from_the_base_and_stops_at_six_hours() -> None:
    base = timedelta(minutes=1)
    assert [backoff(n, base) for n in (1, 2, 3, 4)] == [base, 2 * base, 4 * base, 8 * base]
    assert backoff(20, base) == RETRY_CAP == timedelta(hours=6)


def test_without_preference_email_goes_first_and_sms_stands_in() -> None:
    assert channels_for(Category.NEW_DOCUMENT, None, BOTH) == [ChannelKind.EMAIL]
    assert channels_for(Category.NEW_DOCUMENT, None, PHONE_ONLY) == [ChannelKind.SMS]
    assert channels_for(Category.NEW_DOCUMENT, None, {}) == []
    assert channels_for(Category.EMERGENCY_ACCESS, None, BOTH) == [ChannelKind.EMAIL, ChannelKind.SMS]


def test_a_preference_of_none_silences_every_category_but_emergency_access() -> None:
    silent = NotificationPreference(email=False, sms=False)
    for category in Category:
        expected = [ChannelKind.EMAIL, ChannelKind.SMS] if category is Category.EMERGENCY_ACCESS else []
        assert channels_for(category, silent, BOTH) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("07.00.00.00.01", "+33700000001"),
        ("0033 6 12 34 56 78", "+33612345678"),
        ("+262 692 12 34 56", "+262692123456"),
    ],
)
def test_phone_numbers_are_kept_in_e164(text: str, expected: str) -> None:
    assert normalise_phone(text) == expected


@pytest.mark.parametrize("text", ["01 40 00 00 00", "123", "+33 6 12", "06 12 34 56 78 90 12 34 56", "six"])
def test_numbers_that_cannot_receive_an_sms_are_refused(text: str) -> None:
    with pytest.raises(InvalidContact):
        normalise_phone(text)


@pytest.mark.parametrize("text", ["plain", "a@b", "a b@example.org", "<a@example.org>", "a@example.org, b@example.org"])
def test_malformed_emails_are_refused(text: str) -> None:
    with pytest.raises(InvalidContact):
        normalise_email(text)


def test_addresses_shown_to_operators_are_masked() -> None:
    assert mask_address("claire.martin@example.org") == "c***@example.org"
    assert mask_address("+33612345678") == "+336*****78"


def test_a_text_takes_no_parameter_outside_its_category() -> None:
    for category, allowed in ALLOWED_PARAMS.items():
        with pytest.raises(ValueError, match="diagnosis"):
            clean_params(category, {"diagnosis": "x"})
        assert set(clean_params(category, dict.fromkeys(allowed, "x"))) == allowed


@given(st.text(max_size=300))
def test_parameters_come_out_as_short_single_lines(value: str) -> None:
    cleaned = clean_params(Category.NEW_DOCUMENT, {"author": value}).get("author", "")
    assert len(cleaned) <= 80 and "\n" not in cleaned and "\r" not in cleaned
    for channel in ChannelKind:
        rendered = render(Category.NEW_DOCUMENT, RecipientKind.HOLDER, channel, {"author": cleaned})
        assert rendered.subject is None or "\n" not in rendered.subject


def test_every_category_has_a_text_for_the_holder_and_representatives_on_both_channels() -> None:
    for category in Category:
        for audience in (RecipientKind.HOLDER, RecipientKind.REPRESENTATIVE):
            email = render(category, audience, ChannelKind.EMAIL, {}, holder_name="Léa")
            sms = render(category, audience, ChannelKind.SMS, {}, holder_name="Léa")
            assert email.subject and email.body.startswith("Bonjour,") and "espace DMP" in email.body
            assert sms.subject is None and sms.body.startswith("DMP : ") and len(sms.body) < 200
            assert (" à le " not in email.body) and (" à le " not in sms.body)
