"""The Actor: who is acting, handed by each edge to every service (ARCHITECTURE rule 1)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from opendmp.identity.ins import Ins


class ActorKind(StrEnum):
    # A person identified by INS. Whether they act as the holder or as a legal representative
    # is a fact of the record they act on, so the policy derives it rather than trusting a claim.
    PATIENT = "patient"
    PROFESSIONAL = "professional"  # identified by RPPS
    COUNTER_AGENT = "counter-agent"  # insurer office staff (CPAM)
    OPERATOR = "operator"  # runs the platform; administers, never reads content
    INSURER_FEED = "insurer-feed"  # the insurer's batch: feeds and opens, never reads
    SOFTWARE = "software"  # an establishment's software acting for a professional
    SYSTEM = "system"  # scheduled jobs


# Professions whose opening channel is their own (TRE_G15): pharmacists and nurses are paid per
# record they open, so the channel must say who they are.
PHARMACIST = "21"
NURSES = frozenset({"60", "69"})


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    # RPPS (professional, software's user), INS value (patient), account name (agent, operator),
    # client id (software, insurer feed) or job name (system).
    id: str
    ins: Ins | None = None
    profession: str | None = None
    organisation: str | None = None  # FINESS of the organisation the actor acts for
    on_behalf_of: str | None = None  # software: the RPPS of the professional it acts for
    source_address: str | None = None
    display_name: str | None = None
    # The SAMU / Centre 15 regulating doctor's role, asserted by the login (auth issue).
    samu_regulator: bool = False
    # Software: the OAuth2 scopes its token was issued with (access.policy.SCOPE_ACTIONS bounds
    # what it may do). None for actors without scopes (people, development tokens).
    scopes: frozenset[str] | None = None

    @property
    def rpps(self) -> str | None:
        if self.kind is ActorKind.PROFESSIONAL:
            return self.id
        if self.kind is ActorKind.SOFTWARE:
            return self.on_behalf_of
        return None

    def at(self, source_address: str | None) -> Actor:
        return replace(self, source_address=source_address)

    @classmethod
    def patient(cls, ins: Ins, **kw: Any) -> Actor:
        return cls(ActorKind.PATIENT, ins.value, ins=ins, **kw)

    @classmethod
    def professional(cls, rpps: str, profession: str, organisation: str | None = None, **kw: Any) -> Actor:
        return cls(ActorKind.PROFESSIONAL, rpps, profession=profession, organisation=organisation, **kw)

    @classmethod
    def operator(cls, name: str) -> Actor:
        return cls(ActorKind.OPERATOR, name)

    @classmethod
    def counter_agent(cls, name: str, organisation: str | None = None) -> Actor:
        return cls(ActorKind.COUNTER_AGENT, name, organisation=organisation)

    @classmethod
    def insurer_feed(cls, name: str = "cnam-batch") -> Actor:
        return cls(ActorKind.INSURER_FEED, name)

    @classmethod
    def software(
        cls,
        client_id: str,
        organisation: str,
        on_behalf_of: str,
        profession: str,
        scopes: frozenset[str] | None = None,
    ) -> Actor:
        return cls(
            ActorKind.SOFTWARE,
            client_id,
            organisation=organisation,
            on_behalf_of=on_behalf_of,
            profession=profession,
            scopes=scopes,
        )

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(ActorKind.SYSTEM, job)
