"""Prefect tasks: small, retried steps of a sync."""
