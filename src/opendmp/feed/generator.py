"""Synthetic claim files, deterministic for a seed: what the insurer's extract looks like for
the demo and the benchmark. GP visits (NGAP G), specialists (NGAP CS, APC), nurses (AMI),
pharmacy dispensings (CIP13 with their check digit), lab tests (NABM), imaging (CCAM), devices
(LPP) and hospital stays (GHS, billed by an establishment), spread over the last 24 months."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import IO

import msgspec

from opendmp.identity.ins import nir_key

# (system, code, label, paid cents, reimbursed share %): realistic tariffs, rounded.
GP_VISITS = [("NGAP", "G", "Consultation du médecin généraliste", 3000, 70)]
SPECIALISTS = [
    ("NGAP", "CS", "Consultation de spécialiste", 3000, 70),
    ("NGAP", "APC", "Avis ponctuel de consultant", 5500, 70),
]
NURSES = [("NGAP", "AMI", "Acte infirmier", 315, 60)]
LAB = [
    ("NABM", "1104", "Hémogramme (NFS, plaquettes)", 783, 60),
    ("NABM", "0552", "Glycémie", 146, 60),
    ("NABM", "0578", "Hémoglobine glyquée (HbA1c)", 945, 60),
    ("NABM", "1208", "TSH", 675, 60),
    ("NABM", "0593", "Exploration d'une anomalie lipidique", 540, 60),
]
IMAGING = [
    ("CCAM", "ZBQK002", "Radiographie du thorax", 2128, 70),
    ("CCAM", "QEQK004", "Mammographie bilatérale", 6670, 70),
    ("CCAM", "ZCQM001", "Échographie de l'abdomen", 5670, 70),
    ("CCAM", "NFQK001", "Radiographie du genou", 2660, 70),
]
DEVICES = [
    ("LPP", "1110311", "Bandelettes d'autosurveillance glycémique", 1850, 60),
    ("LPP", "2235540", "Bas de compression veineuse", 3200, 60),
]
STAYS = [
    ("GHS", "1624", "Séjour hospitalier - appendicectomie", 315000, 80),
    ("GHS", "0542", "Séjour hospitalier - pneumopathie", 420000, 80),
]
MEDICINE_NAMES = [
    ("DOLIPRANE 1000 mg, comprimé, boîte de 8", 216),
    ("AMOXICILLINE 1 g, comprimé dispersible, boîte de 6", 478),
    ("METFORMINE 850 mg, comprimé, boîte de 30", 336),
    ("ATORVASTATINE 20 mg, comprimé, boîte de 30", 1130),
    ("LEVOTHYROX 75 µg, comprimé, boîte de 30", 248),
    ("RAMIPRIL 5 mg, comprimé, boîte de 30", 456),
    ("SALBUTAMOL 100 µg, suspension pour inhalation", 411),
    ("IBUPROFENE 400 mg, comprimé, boîte de 12", 220),
]


def cip13(seven: int) -> str:
    """A CIP13 code (34009 + 7 digits + EAN-13 check digit)."""
    body = f"34009{seven:07d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


MEDICINES = [("CIP", cip13(3000000 + 4111 * i), name, price, 65) for i, (name, price) in enumerate(MEDICINE_NAMES)]
# What a year of care looks like: the share of lines of each kind (pharmacy lines dominate).
KINDS: list[tuple[list[tuple[str, str, str, int, int]], int, str]] = [
    (GP_VISITS, 18, "gp"),
    (SPECIALISTS, 6, "specialist"),
    (NURSES, 8, "nurse"),
    (MEDICINES, 40, "pharmacy"),
    (LAB, 15, "lab"),
    (IMAGING, 6, "imaging"),
    (DEVICES, 5, "pharmacy"),
    (STAYS, 2, "hospital"),
]


def make_nir(rng: random.Random) -> str:
    sex = rng.choice("12")
    year, month = rng.randrange(100), rng.randrange(1, 13)
    department = rng.randrange(1, 96)
    nir13 = f"{sex}{year:02d}{month:02d}{department:02d}{rng.randrange(1, 990):03d}{rng.randrange(1, 999):03d}"
    return f"{nir13}{nir_key(nir13):02d}"


def _rpps(rng: random.Random) -> str:
    return f"10{rng.randrange(10**9):09d}"


class _Line(msgspec.Struct, omit_defaults=True):
    claim_id: str
    nir: str
    care_date: str
    system: str
    code: str
    label: str
    quantity: int
    executant_name: str
    paid: str
    reimbursed: str
    prescriber_rpps: str | None = None
    executant_rpps: str | None = None
    executant_finess: str | None = None


def generate(
    lines: int, seed: int, nirs: Sequence[str], today: date, *, months: int = 24, prefix: str | None = None
) -> Iterator[bytes]:
    """NDJSON lines (bytes, newline included). Each person has a GP, a pharmacy, a lab; lines
    pick a person, a kind of care, and a day within `months` before `today`."""
    if not nirs:
        raise ValueError("claims need at least one NIR")
    rng = random.Random(seed)  # noqa: S311 - synthetic data: reproducible for a seed, not secret
    gps = [_rpps(rng) for _ in range(200)]
    specialists = [_rpps(rng) for _ in range(200)]
    nurses = [_rpps(rng) for _ in range(200)]
    pharmacies = [f"{rng.randrange(1, 96):02d}{rng.randrange(10**7):07d}" for _ in range(200)]
    labs = [f"{rng.randrange(1, 96):02d}{rng.randrange(10**7):07d}" for _ in range(50)]
    hospitals = [f"{rng.randrange(1, 96):02d}{rng.randrange(10**7):07d}" for _ in range(30)]
    weights = [w for _, w, _ in KINDS]
    span = months * 30
    encoder = msgspec.json.Encoder()
    prefix = prefix or f"S{seed}"
    for index in range(lines):
        person = rng.randrange(len(nirs))
        nir = nirs[person]
        pool, _, who = rng.choices(KINDS, weights)[0]
        system, code, label, price, share = pool[rng.randrange(len(pool))]
        quantity = rng.choice((1, 1, 1, 2, 3)) if system in ("CIP", "LPP") else 1
        paid = price * quantity
        reimbursed = paid * share // 100
        gp = gps[person % len(gps)]
        line = _Line(
            claim_id=f"{prefix}-{index:010d}",
            nir=nir,
            care_date=(today - timedelta(days=rng.randrange(span))).isoformat(),
            system=system,
            code=code,
            label=label,
            quantity=quantity,
            executant_name="",
            paid=f"{paid // 100}.{paid % 100:02d}",
            reimbursed=f"{reimbursed // 100}.{reimbursed % 100:02d}",
        )
        if who == "gp":
            line.executant_rpps, line.executant_name = gp, f"Dr Généraliste {gp[-4:]}"
        elif who == "specialist":
            rpps = specialists[rng.randrange(len(specialists))]
            line.executant_rpps, line.executant_name, line.prescriber_rpps = rpps, f"Dr Spécialiste {rpps[-4:]}", gp
        elif who == "nurse":
            rpps = nurses[person % len(nurses)]
            line.executant_rpps, line.executant_name, line.prescriber_rpps = rpps, f"Infirmier {rpps[-4:]}", gp
        elif who == "pharmacy":
            finess = pharmacies[person % len(pharmacies)]
            line.executant_finess, line.executant_name, line.prescriber_rpps = finess, f"Pharmacie {finess[-4:]}", gp
        elif who == "lab":
            finess = labs[person % len(labs)]
            line.executant_finess, line.executant_name, line.prescriber_rpps = finess, f"Laboratoire {finess[-4:]}", gp
        elif who == "imaging":
            finess = hospitals[rng.randrange(len(hospitals))]
            line.executant_finess, line.executant_name, line.prescriber_rpps = finess, f"Imagerie {finess[-4:]}", gp
        else:
            finess = hospitals[rng.randrange(len(hospitals))]
            line.executant_finess, line.executant_name = finess, f"Centre hospitalier {finess[-4:]}"
        yield encoder.encode(line) + b"\n"


def write(out: IO[bytes], lines: int, seed: int, nirs: Sequence[str], today: date, **kw: object) -> int:
    written = 0
    buffer: list[bytes] = []
    for line in generate(lines, seed, nirs, today, **kw):  # type: ignore[arg-type]
        buffer.append(line)
        if len(buffer) >= 10_000:
            out.write(b"".join(buffer))
            written += len(buffer)
            buffer.clear()
    out.write(b"".join(buffer))
    return written + len(buffer)


def people(count: int, seed: int) -> list[str]:
    rng = random.Random(seed ^ 0x5EED)  # noqa: S311 - synthetic data: reproducible for a seed, not secret
    return [make_nir(rng) for _ in range(count)]
