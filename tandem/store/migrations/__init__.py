"""The state store's Alembic migrations: ``env.py`` and one revision per schema change in ``versions/``.

Run them through :func:`tandem.store.upgrade.upgrade_store` (at start) or ``tandem store upgrade``; a developer adds
a revision with ``alembic -c tandem/store/migrations/alembic.ini revision --autogenerate -m "what changed"``
(docs/development/state-store.md, Migrations).
"""
