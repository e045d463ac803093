"""Access windows (beyond the DMP, as Austria's ELGA and Germany's ePA do): an authorisation
starts when granted and lasts a number of days:
1. the one the holder (or a representative) chose for this professional when granting (0–365);
2. else the shorter of the profession's own default from the care-team rules (a pharmacy: 3
   days, like the ePA) and the holder's default for the record, whichever exist;
3. else DEFAULT_WINDOW_DAYS (decision 0014).
0 days means the visit only: the access ends at midnight, French time, on the day it was granted."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from opendmp.access.rules import care_team_rule
from opendmp.kit.errors import InvalidInput

DEFAULT_WINDOW_DAYS = 365
MAX_WINDOW_DAYS = 365
EMERGENCY_DURATION = timedelta(hours=2)
PARIS = ZoneInfo("Europe/Paris")


def check_window_days(days: int, field: str = "window") -> int:
    if not 0 <= days <= MAX_WINDOW_DAYS:
        raise InvalidInput(f"an access window lasts 0 to {MAX_WINDOW_DAYS} days, not {days}", field=field)
    return days


def window_days_for(profession: str | None, chosen: int | None, holder_default: int | None) -> int:
    """`chosen` is the holder's own choice for this professional (the service accepts it from the
    holder or a representative only); without it the stricter of the profession's default and the
    holder's default applies, so a professional never outlasts what the holder set."""
    if chosen is not None:
        return check_window_days(chosen)
    defaults = [d for d in (care_team_rule(profession).default_window_days, holder_default) if d is not None]
    return min(defaults) if defaults else DEFAULT_WINDOW_DAYS


def window_end(granted_at: datetime, days: int) -> datetime:
    if days == 0:
        local = granted_at.astimezone(PARIS)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=PARIS)
        return midnight.astimezone(granted_at.tzinfo)
    return granted_at + timedelta(days=days)
