"""Operator commands that talk to a Prefect server: deployments per connection, alerts, the server check.

This layer sits above the engine (``tandem``), the flows and the web views; the command line calls it.
"""
