"""Notifications: the outbox written with each event, and the worker and senders that deliver it."""
