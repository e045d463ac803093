"""Shared plumbing: database, ids, clock, errors."""
