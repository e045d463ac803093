"""Identities: INS (NIR/NIA), professionals (RPPS), organisations (FINESS), the Actor."""
