"""The French texts of notifications, one template per category and audience.

Messages leave the platform by email or SMS, channels that are neither encrypted end to end nor
always read by their addressee: they carry no health detail (no document title, type or
diagnosis, no emergency reason), only who acted, at most, and a pointer to log in. Parameters are
a closed list per category, so a caller cannot slip anything else in."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from opendmp.notify.models import Category, ChannelKind, RecipientKind

MAX_PARAM_LENGTH = 80

# Parameters each category accepts; anything else is a programming error.
ALLOWED_PARAMS: dict[Category, frozenset[str]] = {
    Category.NEW_DOCUMENT: frozenset({"author", "count"}),
    Category.FIRST_ACCESS: frozenset({"professional"}),
    Category.EMERGENCY_ACCESS: frozenset({"professional", "mode", "patient"}),
    Category.CONSENT_CHANGE: frozenset({"change", "professional"}),
    Category.VSM_REMINDER: frozenset({"patient", "written"}),
}

# The consent changes a message may name (the "change" parameter), in the holder's words.
CONSENT_CHANGES = {
    "authorised": "un professionnel a été autorisé à y accéder",
    "revoked": "l'autorisation d'accès d'un professionnel a été retirée",
    "blocked": "un professionnel a été bloqué",
    "unblocked": "un professionnel a été débloqué",
    "treating-doctor": "votre médecin traitant a été désigné ou changé",
    "emergency-switches": "vos choix pour l'accès en urgence ont été modifiés",
    "masking-default": "le masquage par défaut de vos nouveaux documents a été modifié",
}
EMERGENCY_MODES = {"bris-de-glace": " (accès « bris de glace »)", "samu": " (régulation du SAMU)"}

FOOTER = (
    "Ce message est envoyé automatiquement, merci de ne pas y répondre. "
    "Vous choisissez les notifications que vous recevez dans votre espace DMP."
)
FOOTER_PROFESSIONAL = "Ce message est envoyé automatiquement par le service DMP, merci de ne pas y répondre."


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str | None  # email only
    body: str


def clean_params(category: Category, params: Mapping[str, object]) -> dict[str, str]:
    """Keep the allowed keys only, as short single-line text (values come from producers' metadata)."""
    unknown = set(params) - ALLOWED_PARAMS[category]
    if unknown:
        raise ValueError(f"{category.value} notifications take no {', '.join(sorted(unknown))}")
    cleaned: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        text = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in str(value))
        text = " ".join(text.split())[:MAX_PARAM_LENGTH]
        if text:
            cleaned[key] = text
    return cleaned


def render(
    category: Category,
    audience: RecipientKind,
    channel: ChannelKind,
    params: Mapping[str, str],
    *,
    holder_name: str | None = None,
) -> Rendered:
    """The message for one recipient. `holder_name` (a given name) lets a legal representative
    tell which child's record it is about."""
    if audience is RecipientKind.PROFESSIONAL:
        return _professional(category, params)
    if audience is RecipientKind.REPRESENTATIVE:
        # "le dossier" as a subject, "au dossier" after "à".
        whose = f" de {holder_name}" if holder_name else " dont vous êtes représentant légal"
        record, to_record = f"le dossier médical partagé{whose}", f"au dossier médical partagé{whose}"
        greeting = "Bonjour,\n\nVous recevez ce message en tant que représentant légal.\n\n"
    else:
        record, to_record = "votre dossier médical partagé", "à votre dossier médical partagé"
        greeting = "Bonjour,\n\n"
    who = params.get("professional")
    sms_hint = "Connectez-vous à votre espace DMP."
    match category:
        case Category.NEW_DOCUMENT:
            count = int(params["count"]) if params.get("count", "").isdigit() else 1
            what = "un nouveau document a été ajouté" if count <= 1 else f"{count} nouveaux documents ont été ajoutés"
            by = f" par {params['author']}" if "author" in params else ""
            subject = "Nouveau document dans le DMP"
            line = f"{what} {to_record}{by}."
            hint = "Pour le consulter, connectez-vous à votre espace DMP."
        case Category.FIRST_ACCESS:
            subject = "Un nouveau professionnel a consulté le DMP"
            line = f"pour la première fois, {who or 'un professionnel de santé'} a consulté {record}."
            hint = (
                "Si vous ne connaissez pas ce professionnel, vous pouvez le bloquer depuis votre espace DMP, "
                "où l'historique des accès est consultable."
            )
        case Category.EMERGENCY_ACCESS:
            subject = "Accès en urgence au DMP"
            by = f" par {who}" if who else ""
            line = f"{record} a été consulté en urgence{by}{EMERGENCY_MODES.get(params.get('mode', ''), '')}."
            hint = (
                "Cet accès est tracé et vérifié par l'opérateur du DMP. "
                "L'historique des accès est consultable dans votre espace DMP."
            )
            sms_hint = "Historique des accès dans votre espace DMP."
        case Category.CONSENT_CHANGE:
            subject = "Les droits d'accès au DMP ont changé"
            change = CONSENT_CHANGES.get(params.get("change", ""))
            line = f"les droits d'accès {to_record} ont changé" + (f" : {change}." if change else ".")
            hint = (
                "Si vous n'êtes pas à l'origine de ce changement, connectez-vous à votre espace DMP pour le vérifier."
            )
        case Category.VSM_REMINDER:
            subject = "Synthèse médicale à mettre à jour"
            of_record = "du" + record.removeprefix("le") if record.startswith("le ") else f"de {record}"
            line = f"la synthèse médicale (VSM) {of_record} a plus d'un an."
            hint = "Votre médecin traitant a été invité à la mettre à jour."
    if channel is ChannelKind.SMS:
        return Rendered(None, f"DMP : {line} {sms_hint}")
    return Rendered(subject, f"{greeting}{line[0].upper()}{line[1:]}\n\n{hint}\n\n{FOOTER}\n")


def _professional(category: Category, params: Mapping[str, str]) -> Rendered:
    if category is Category.VSM_REMINDER:
        patient = params.get("patient")
        whose = f"de votre patient(e) {patient}" if patient else "d'un(e) de vos patient(e)s"
        written = f", rédigée le {params['written']}," if "written" in params else ""
        return Rendered(
            "Synthèse médicale (VSM) de plus d'un an",
            (
                "Bonjour,\n\n"
                f"En tant que médecin traitant, vous êtes informé(e) que la synthèse médicale (VSM) {whose}"
                f"{written} a plus d'un an. Pensez à la mettre à jour dans son dossier médical partagé.\n\n"
                f"{FOOTER_PROFESSIONAL}\n"
            ),
        )
    if category is not Category.EMERGENCY_ACCESS:
        raise ValueError(f"no professional template for {category.value} notifications")
    patient = params.get("patient")
    whose = f"de votre patient(e) {patient}" if patient else "d'un(e) de vos patient(e)s"
    who = f" par {params['professional']}" if "professional" in params else ""
    mode = EMERGENCY_MODES.get(params.get("mode", ""), "")
    return Rendered(
        "Accès en urgence au DMP d'un(e) de vos patient(e)s",
        (
            "Bonjour,\n\n"
            f"En tant que médecin traitant, vous êtes informé(e) que le dossier médical partagé {whose} "
            f"a été consulté en urgence{who}{mode}.\n\n"
            "Cet accès est tracé et vérifié par l'opérateur du DMP.\n\n"
            f"{FOOTER_PROFESSIONAL}\n"
        ),
    )
