"""Structured summaries written through forms: the VSM (volet de synthèse médicale) and the DLU
(dossier de liaison d'urgence), each a CI-SIS-shaped CDA R2 document with a structured copy."""
