"""Directory use cases: professionals and organisations, added by operators (journaled on the
system chain). Reference data, not health data: these tables are replicated, not distributed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action
from opendmp.identity import geography
from opendmp.identity.actor import Actor
from opendmp.identity.models import Organisation, Professional, ProfessionalActivity
from opendmp.identity.professions import profession_codes
from opendmp.journal import service as journal
from opendmp.kit.errors import InvalidInput, NotFound

RPPS_RE = re.compile(r"^[0-9]{11}$")
FINESS_RE = re.compile(r"^(?:[0-9]{2}|2A|2B)[0-9]{7}$")
ORGANISATION_KINDS = frozenset(
    {
        "university-hospital",
        "hospital",
        "clinic",
        "ehpad",
        "pharmacy",
        "health-centre",
        "laboratory",
        "insurer-office",
        "other",
    }
)


def validate_rpps(value: str, field: str = "rpps") -> str:
    value = value.strip()
    if not RPPS_RE.match(value):
        raise InvalidInput("an RPPS number has 11 digits", field=field)
    return value


def validate_finess(value: str, field: str = "finess") -> str:
    value = value.strip().upper()
    if not FINESS_RE.match(value):
        raise InvalidInput("a FINESS number has 9 characters (department + 7 digits)", field=field)
    return value


def rpps_from_national_id(national_id: str) -> str:
    """idNat_PS on the wire is `8` + RPPS (DOMAIN.md): strip the prefix, refuse anything else."""
    if len(national_id) == 12 and national_id.startswith("8"):
        return validate_rpps(national_id[1:], field="identifier")
    raise InvalidInput("a professional's national identifier is 8 followed by the 11-digit RPPS", field="identifier")


def national_id_of(rpps: str) -> str:
    return "8" + rpps


@dataclass(frozen=True, slots=True)
class ProfessionalIn:
    rpps: str
    profession: str
    family: str
    given: str
    specialty: str | None = None
    finess: str | None = None


@dataclass(frozen=True, slots=True)
class OrganisationIn:
    finess: str
    name: str
    kind: str
    department: str | None = None


def add_organisation(session: Session, actor: Actor, data: OrganisationIn, now: datetime) -> Organisation:
    access.require(session, actor, Action.DIRECTORY_ADMIN, None, now)
    finess = validate_finess(data.finess)
    if data.kind not in ORGANISATION_KINDS:
        raise InvalidInput(f"unknown organisation kind {data.kind!r}", field="kind")
    if data.department is not None and not geography.is_department(data.department):
        raise InvalidInput(f"unknown department {data.department!r}", field="department")
    if not data.name.strip():
        raise InvalidInput("the organisation needs a name", field="name")
    org = session.execute(select(Organisation).where(Organisation.finess == finess)).scalar_one_or_none()
    if org is None:
        org = Organisation(finess=finess, name=data.name.strip(), kind=data.kind)
        session.add(org)
    org.name, org.kind, org.department = data.name.strip(), data.kind, data.department
    org.region = geography.region_of(data.department) if data.department else None
    journal.append(
        session, actor, journal.Event("directory:organisation", "organisation", finess), record_id=None, at=now
    )
    session.flush()
    return org


def add_professional(session: Session, actor: Actor, data: ProfessionalIn, now: datetime) -> Professional:
    access.require(session, actor, Action.DIRECTORY_ADMIN, None, now)
    rpps = validate_rpps(data.rpps)
    if data.profession not in profession_codes():
        raise InvalidInput(f"unknown profession code {data.profession!r} (TRE_G15)", field="profession")
    if not data.family.strip() or not data.given.strip():
        raise InvalidInput("the professional's family and given names are required", field="family")
    organisation = None
    if data.finess is not None:
        finess = validate_finess(data.finess)
        organisation = session.execute(select(Organisation).where(Organisation.finess == finess)).scalar_one_or_none()
        if organisation is None:
            raise NotFound(f"no organisation with FINESS {finess}: add it first", field="finess")
    professional = session.execute(select(Professional).where(Professional.rpps == rpps)).scalar_one_or_none()
    if professional is None:
        professional = Professional(rpps=rpps, profession=data.profession, family="", given="")
        session.add(professional)
    professional.profession, professional.specialty = data.profession, data.specialty
    professional.family, professional.given = data.family.strip(), data.given.strip()
    session.flush()
    if organisation is not None:
        linked = session.execute(
            select(ProfessionalActivity).where(
                ProfessionalActivity.professional_id == professional.id,
                ProfessionalActivity.organisation_id == organisation.id,
            )
        ).scalar_one_or_none()
        if linked is None:
            session.add(ProfessionalActivity(professional_id=professional.id, organisation_id=organisation.id))
    journal.append(
        session, actor, journal.Event("directory:professional", "professional", rpps), record_id=None, at=now
    )
    session.flush()
    return professional
