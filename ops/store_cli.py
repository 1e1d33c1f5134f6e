"""``tandem store upgrade`` and ``tandem store current``: the state store's schema version (its Alembic migrations).

Tandem upgrades a store when it opens it; the command does it on purpose (before a deployment, or to see what
an upgrade would start from). The store is a connection's (its Tandem Sync Connection block's state store) or
a database URL. URLs are printed without their password.
"""

from __future__ import annotations

import argparse
import sys

from tandem.errors import CommandError

DESCRIPTION = """\
The state store's schema version. Tandem migrates a store when a run opens it; tandem store upgrade does it
now: an empty store gets today's tables, a store created before Tandem versioned its schema is recognised by
its tables and stamped, then every newer revision runs, in one transaction. Running it again does nothing.
tandem store current prints the store's revision and the newest one this Tandem knows.

example:
  tandem store upgrade --connection acme
  tandem store current --url sqlite:///.tandem/state.sqlite3
  TANDEM_STATE_URL=postgresql+psycopg://tandem:secret@db/tandem tandem store upgrade"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``store`` verb's description and sub-verbs (``upgrade``, ``current``) with their options."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = DESCRIPTION
    verbs = parser.add_subparsers(dest="store_command", required=True)
    for name, summary, handler in (
        ("upgrade", "bring the state store to the newest schema revision", run_upgrade),
        ("current", "print the state store's schema revision and the newest one", run_current),
    ):
        verb = verbs.add_parser(name, help=summary, description=summary)
        which = verb.add_mutually_exclusive_group()
        which.add_argument("--connection", metavar="NAME", help="the Tandem Sync Connection block whose store to use")
        which.add_argument("--url", help="the store's database URL (sqlite:///path or postgresql+psycopg://...; "
                           "default $TANDEM_STATE_URL, which keeps a password out of the command line)")
        verb.set_defaults(handler=handler)


def run_upgrade(args: argparse.Namespace) -> int:
    """``tandem store upgrade``: migrate the store and say from which revision to which."""
    import sqlalchemy as sa

    from tandem.store import create_store_engine
    from tandem.store.upgrade import StoreUpgradeError, upgrade_store

    url, label = _store_url(args)
    engine = create_store_engine(url)
    try:
        done = upgrade_store(engine)
    except StoreUpgradeError as exc:
        raise CommandError(f"{label}: {exc}") from None
    except sa.exc.OperationalError as exc:
        raise CommandError(f"{label}: cannot reach the store ({type(exc.orig).__name__})") from None
    finally:
        engine.dispose()
    if done.created:
        print(f"{label}: created at revision {done.after} (head)")
    elif done.detected:
        print(f"{label}: unversioned, its tables are revision {done.before}: stamped and upgraded to {done.after}")
    elif done.changed:
        print(f"{label}: upgraded from revision {done.before} to {done.after}")
    else:
        print(f"{label}: at revision {done.after} (head), nothing to do")
    return 0


def run_current(args: argparse.Namespace) -> int:
    """``tandem store current``: the store's revision (or what its tables look like) and the head."""
    import sqlalchemy as sa

    from tandem.store import create_store_engine
    from tandem.store.upgrade import detect_revision, head_revision, store_revision

    url, label = _store_url(args)
    engine = create_store_engine(url)
    try:
        current = store_revision(engine)
        if current is None:
            with engine.connect() as connection:
                detected = detect_revision(connection)
    except sa.exc.OperationalError as exc:
        raise CommandError(f"{label}: cannot reach the store ({type(exc.orig).__name__})") from None
    finally:
        engine.dispose()
    head = head_revision()
    if current == head:
        print(f"{label}: revision {current} (head)")
    elif current is not None:
        print(f"{label}: revision {current}, head is {head}: tandem store upgrade brings it up to date")
    elif detected is None:
        print(f"{label}: empty (head is {head}): tandem store upgrade creates it")
    else:
        print(f"{label}: unversioned, its tables are revision {detected} (head is {head}): "
              "tandem store upgrade stamps and upgrades it")
    return 0


def _store_url(args: argparse.Namespace) -> tuple[str, str]:
    """The store's URL and how to name it in messages (never with its password)."""
    import os

    from sqlalchemy.engine import make_url

    from tandem.store.engine import URL_ENVIRONMENT_VARIABLE

    url = args.url or (None if args.connection else os.environ.get(URL_ENVIRONMENT_VARIABLE))
    if url:
        return url, make_url(url).render_as_string(hide_password=True)
    if not args.connection:
        raise CommandError(f"name the store: --connection NAME, --url URL or ${URL_ENVIRONMENT_VARIABLE}")
    from ops.prefect_home import use_demo_home_when_unset
    from web.sources import load_connection

    home = use_demo_home_when_unset()
    if home is not None:
        print(f"tandem store: reading the demo's blocks from {home} (set PREFECT_API_URL for your server)",
              file=sys.stderr)
    block = load_connection(args.connection)
    return block.store.url.get_secret_value(), f"the state store of {args.connection}"
