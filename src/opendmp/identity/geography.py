"""French administrative geography: regions, departments, and birth countries abroad.

This is reference data used for regional statistics and for generating synthetic data
(birthplaces, addresses). Region codes, department codes and the INSEE commune codes of the
prefectures (chef-lieux) follow the Code officiel géographique (COG). Populations are
approximate recent INSEE figures: they only serve as weights and must not be quoted as
official statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

REGIONS: dict[str, str] = {
    "01": "Guadeloupe",
    "02": "Martinique",
    "03": "Guyane",
    "04": "La Réunion",
    "06": "Mayotte",
    "11": "Île-de-France",
    "24": "Centre-Val de Loire",
    "27": "Bourgogne-Franche-Comté",
    "28": "Normandie",
    "32": "Hauts-de-France",
    "44": "Grand Est",
    "52": "Pays de la Loire",
    "53": "Bretagne",
    "75": "Nouvelle-Aquitaine",
    "76": "Occitanie",
    "84": "Auvergne-Rhône-Alpes",
    "93": "Provence-Alpes-Côte d'Azur",
    "94": "Corse",
}


@dataclass(frozen=True, slots=True)
class Department:
    """A department: its code, name, region code, approximate population and prefecture."""

    code: str
    name: str
    region: str
    population: int
    chef_lieu: str  # INSEE commune code of the prefecture


_DEPARTMENT_ROWS: tuple[tuple[str, str, str, int, str], ...] = (
    ("01", "Ain", "84", 660_000, "01053"),
    ("02", "Aisne", "32", 530_000, "02408"),
    ("03", "Allier", "84", 335_000, "03190"),
    ("04", "Alpes-de-Haute-Provence", "93", 166_000, "04070"),
    ("05", "Hautes-Alpes", "93", 141_000, "05061"),
    ("06", "Alpes-Maritimes", "93", 1_100_000, "06088"),
    ("07", "Ardèche", "84", 329_000, "07186"),
    ("08", "Ardennes", "44", 270_000, "08105"),
    ("09", "Ariège", "76", 155_000, "09122"),
    ("10", "Aube", "44", 310_000, "10387"),
    ("11", "Aude", "76", 375_000, "11069"),
    ("12", "Aveyron", "76", 280_000, "12202"),
    ("13", "Bouches-du-Rhône", "93", 2_050_000, "13055"),
    ("14", "Calvados", "28", 700_000, "14118"),
    ("15", "Cantal", "84", 144_000, "15014"),
    ("16", "Charente", "75", 352_000, "16015"),
    ("17", "Charente-Maritime", "75", 660_000, "17300"),
    ("18", "Cher", "24", 298_000, "18033"),
    ("19", "Corrèze", "75", 240_000, "19272"),
    ("21", "Côte-d'Or", "27", 535_000, "21231"),
    ("22", "Côtes-d'Armor", "53", 602_000, "22278"),
    ("23", "Creuse", "75", 115_000, "23096"),
    ("24", "Dordogne", "75", 414_000, "24322"),
    ("25", "Doubs", "27", 545_000, "25056"),
    ("26", "Drôme", "84", 520_000, "26362"),
    ("27", "Eure", "28", 600_000, "27229"),
    ("28", "Eure-et-Loir", "24", 431_000, "28085"),
    ("29", "Finistère", "53", 918_000, "29232"),
    ("2A", "Corse-du-Sud", "94", 160_000, "2A004"),
    ("2B", "Haute-Corse", "94", 183_000, "2B033"),
    ("30", "Gard", "76", 750_000, "30189"),
    ("31", "Haute-Garonne", "76", 1_430_000, "31555"),
    ("32", "Gers", "76", 192_000, "32013"),
    ("33", "Gironde", "75", 1_650_000, "33063"),
    ("34", "Hérault", "76", 1_190_000, "34172"),
    ("35", "Ille-et-Vilaine", "53", 1_100_000, "35238"),
    ("36", "Indre", "24", 218_000, "36044"),
    ("37", "Indre-et-Loire", "24", 612_000, "37261"),
    ("38", "Isère", "84", 1_280_000, "38185"),
    ("39", "Jura", "27", 259_000, "39300"),
    ("40", "Landes", "75", 418_000, "40192"),
    ("41", "Loir-et-Cher", "24", 329_000, "41018"),
    ("42", "Loire", "84", 767_000, "42218"),
    ("43", "Haute-Loire", "84", 228_000, "43157"),
    ("44", "Loire-Atlantique", "52", 1_440_000, "44109"),
    ("45", "Loiret", "24", 682_000, "45234"),
    ("46", "Lot", "76", 174_000, "46042"),
    ("47", "Lot-et-Garonne", "75", 332_000, "47001"),
    ("48", "Lozère", "76", 77_000, "48095"),
    ("49", "Maine-et-Loire", "52", 820_000, "49007"),
    ("50", "Manche", "28", 495_000, "50502"),
    ("51", "Marne", "44", 566_000, "51108"),
    ("52", "Haute-Marne", "44", 172_000, "52121"),
    ("53", "Mayenne", "52", 307_000, "53130"),
    ("54", "Meurthe-et-Moselle", "44", 733_000, "54395"),
    ("55", "Meuse", "44", 184_000, "55029"),
    ("56", "Morbihan", "53", 763_000, "56260"),
    ("57", "Moselle", "44", 1_048_000, "57463"),
    ("58", "Nièvre", "27", 203_000, "58194"),
    ("59", "Nord", "32", 2_610_000, "59350"),
    ("60", "Oise", "32", 830_000, "60057"),
    ("61", "Orne", "28", 279_000, "61001"),
    ("62", "Pas-de-Calais", "32", 1_465_000, "62041"),
    ("63", "Puy-de-Dôme", "84", 665_000, "63113"),
    ("64", "Pyrénées-Atlantiques", "75", 690_000, "64445"),
    ("65", "Hautes-Pyrénées", "76", 230_000, "65440"),
    ("66", "Pyrénées-Orientales", "76", 482_000, "66136"),
    ("67", "Bas-Rhin", "44", 1_145_000, "67482"),
    ("68", "Haut-Rhin", "44", 768_000, "68066"),
    ("69", "Rhône", "84", 1_890_000, "69123"),
    ("70", "Haute-Saône", "27", 234_000, "70550"),
    ("71", "Saône-et-Loire", "27", 551_000, "71270"),
    ("72", "Sarthe", "52", 566_000, "72181"),
    ("73", "Savoie", "84", 439_000, "73065"),
    ("74", "Haute-Savoie", "84", 835_000, "74010"),
    ("75", "Paris", "11", 2_130_000, "75056"),
    ("76", "Seine-Maritime", "28", 1_255_000, "76540"),
    ("77", "Seine-et-Marne", "11", 1_430_000, "77288"),
    ("78", "Yvelines", "11", 1_450_000, "78646"),
    ("79", "Deux-Sèvres", "75", 375_000, "79191"),
    ("80", "Somme", "32", 570_000, "80021"),
    ("81", "Tarn", "76", 391_000, "81004"),
    ("82", "Tarn-et-Garonne", "76", 263_000, "82121"),
    ("83", "Var", "93", 1_085_000, "83137"),
    ("84", "Vaucluse", "93", 562_000, "84007"),
    ("85", "Vendée", "52", 690_000, "85191"),
    ("86", "Vienne", "75", 440_000, "86194"),
    ("87", "Haute-Vienne", "75", 372_000, "87085"),
    ("88", "Vosges", "44", 363_000, "88160"),
    ("89", "Yonne", "27", 335_000, "89024"),
    ("90", "Territoire de Belfort", "27", 141_000, "90010"),
    ("91", "Essonne", "11", 1_310_000, "91228"),
    ("92", "Hauts-de-Seine", "11", 1_625_000, "92050"),
    ("93", "Seine-Saint-Denis", "11", 1_650_000, "93008"),
    ("94", "Val-de-Marne", "11", 1_410_000, "94028"),
    ("95", "Val-d'Oise", "11", 1_255_000, "95500"),
    ("971", "Guadeloupe", "01", 384_000, "97105"),
    ("972", "Martinique", "02", 360_000, "97209"),
    ("973", "Guyane", "03", 287_000, "97302"),
    ("974", "La Réunion", "04", 875_000, "97411"),
    ("976", "Mayotte", "06", 260_000, "97611"),
)

DEPARTMENTS: dict[str, Department] = {
    code: Department(code=code, name=name, region=region, population=population, chef_lieu=chef_lieu)
    for code, name, region, population, chef_lieu in _DEPARTMENT_ROWS
}

# Common INSEE country codes for people born abroad ("99" + 3 digits, COG pays).
FOREIGN_COUNTRIES: dict[str, str] = {
    "99109": "Allemagne",
    "99114": "Roumanie",
    "99122": "Pologne",
    "99127": "Italie",
    "99131": "Belgique",
    "99132": "Royaume-Uni",
    "99134": "Espagne",
    "99135": "Pays-Bas",
    "99139": "Portugal",
    "99140": "Suisse",
    "99208": "Turquie",
    "99216": "Chine",
    "99243": "Viêt Nam",
    "99322": "Cameroun",
    "99326": "Côte d'Ivoire",
    "99341": "Sénégal",
    "99350": "Maroc",
    "99351": "Tunisie",
    "99352": "Algérie",
    "99401": "Canada",
    "99404": "États-Unis",
}

_ABROAD_PREFIX = "99"
_OVERSEAS_PREFIX = "97"


def is_department(code: str) -> bool:
    """Whether `code` is the code of one of the 101 departments."""
    return code in DEPARTMENTS


def region_of(department: str) -> str | None:
    """The region code of a department code, or None if the department is unknown."""
    found = DEPARTMENTS.get(department)
    return found.region if found is not None else None


def department_of_birthplace(insee_code: str) -> str | None:
    """The department code of an INSEE commune code (birthplace).

    Overseas communes (codes starting with "97") carry a three-character department code;
    other communes a two-character one (`2A`/`2B` for Corsica). Births abroad ("99...")
    have no department and give None.
    """
    if insee_code.startswith(_ABROAD_PREFIX):
        return None
    if insee_code.startswith(_OVERSEAS_PREFIX):
        return insee_code[:3]
    return insee_code[:2]
