"""Packaged national reference data (ANS terminologies)."""
