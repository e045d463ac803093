"""Statistics and the remuneration ledger."""
