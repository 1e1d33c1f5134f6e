"""Prefect flows: one module per procedure, orchestration only."""

from flows.heartbeats import install as _end_runs_promptly

_end_runs_promptly()
