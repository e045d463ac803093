"""Bearer tokens at the API edges: verify, and journal a refused token on the system chain
with the verifier's reason code (never the token itself). Refusals count per source address
first: past the limit they answer 429 unjournaled, so a flood of bad tokens cannot grow the one
system chain without bound."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opendmp.auth.oauth import UNIDENTIFIED
from opendmp.auth.tokens import TokenRefused
from opendmp.identity.actor import Actor
from opendmp.journal import service as journal
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import TooManyRequests

if TYPE_CHECKING:
    from opendmp.runtime import Runtime


def authenticate_bearer(runtime: Runtime, token: str, source_address: str | None) -> Actor:
    try:
        return runtime.verifier.verify(token).at(source_address)
    except TokenRefused as error:
        wait = runtime.address_limiter.hit(source_address, "refused-token")
        if wait is not None:
            raise TooManyRequests(wait.seconds) from error
        # Who presented it only when the signature held (a revoked client's token); otherwise
        # the platform's authenticator speaks for an unidentified caller at this address.
        actor = (error.actor or UNIDENTIFIED).at(source_address)
        event = journal.Event("auth:bearer", "platform", None, outcome=journal.Outcome.DENIED, reason=error.reason)
        with unit_of_work(runtime.sessions) as session:
            journal.append(session, actor, event, record_id=None, at=runtime.clock.now())
        raise
