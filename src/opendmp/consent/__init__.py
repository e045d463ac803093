"""Authorisations, blocks and designations the patient controls."""
