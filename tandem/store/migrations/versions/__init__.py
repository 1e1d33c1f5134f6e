"""Revisions of the state store's schema, oldest first (``0001`` is the first released schema)."""
