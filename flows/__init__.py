"""Prefect flows: one module per procedure, orchestration only."""
