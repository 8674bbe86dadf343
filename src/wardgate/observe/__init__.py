"""Observers: what runs after a response and can never fail it (events, metrics)."""
