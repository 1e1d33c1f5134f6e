"""``tandem connection enable|disable NAME [--entity E]``: the sync switch.

Disabling leaves every record and binding alone: it turns the connection's ``enabled`` flag off in the state
store, so scheduled runs end Skipped (``flows/orchestration.py``); runs started by hand still run. Enabling
runs the initial import: Salesforce records changed in the last 24 hours come in, and the moment of
enabling is recorded again, so only ERP records created from now on go out (the Sales Connect rules).

Per entity (``--entity``) the switch is the connection block's entity list (``options.entities``), since
the state store keeps one flag per connection: a disabled entity leaves the list (no run, scheduled or by
hand, syncs it; its records and bindings stay), and enabling it puts it back and runs its initial import.
The moment of enabling stays the connection's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from blocks.connection import SyncConnection
from tandem.errors import CommandError
from tandem.store import ConnectionNotFoundError, get_connection, session_scope, update_connection

#: How far back the initial import reads Salesforce when sync is enabled again, in hours.
LOOKBACK_HOURS = 24


def _load(name: str) -> SyncConnection:
    from web.sources import load_connection

    return load_connection(name)


def _set_flag(block: SyncConnection, name: str, *, enabled: bool) -> bool:
    """Turn the connection's flag off, or (enabling a disabled one) clear when sync was enabled, so the
    initial import records the new moment and turns the flag on. Returns the flag before."""
    engine = block.store.get_engine()
    try:
        with session_scope(engine) as session:
            try:
                row = get_connection(session, name)
            except ConnectionNotFoundError:
                raise CommandError(f"connection {name!r} has no state yet: run its initial import first "
                                   "(tandem connect, or the initial-import flow)") from None
            before = row.enabled
            if enabled and not before:
                update_connection(session, row.id or 0, sync_enabled_at=None)
            elif not enabled:
                update_connection(session, row.id or 0, enabled=False)
        return before
    finally:
        engine.dispose()


def _set_entity(block: SyncConnection, name: str, entity: str, *, enabled: bool) -> bool:
    """Add or remove ``entity`` in the block's entity list and save the block; return whether it was in."""
    from tandem.mapping import load_mapping_set

    every = list(load_mapping_set(block.mapping_path()).entities)
    if entity not in every:
        raise CommandError(f"no entity {entity!r} in connection {name!r}'s mappings; choose from {', '.join(every)}")
    current = block.enabled_entities()
    was_in = entity in current
    wanted = [e for e in every if (e in current or e == entity) and (enabled or e != entity)]
    if not wanted:
        raise CommandError(f"{entity!r} is the last entity of connection {name!r}: disable the connection instead")
    if wanted != current:
        options = block.options.model_copy(update={"entities": None if wanted == every else wanted})
        block.model_copy(update={"options": options}).save(name, overwrite=True)
    return was_in


def disable(name: str, entity: str | None = None, out: Callable[[str], None] = print) -> int:
    """Turn sync off for connection ``name`` (or one entity of it); records stay as they are."""
    block = _load(name)
    if entity:
        was_in = _set_entity(block, name, entity, enabled=False)
        out(f"{name}: {entity} {'disabled' if was_in else 'was disabled already'}; its records stay as they are")
        return 0
    before = _set_flag(block, name, enabled=False)
    out(f"{name}: sync {'disabled' if before else 'was disabled already'}; scheduled runs skip it, records stay "
        "as they are")
    return 0


def enable(name: str, entity: str | None = None, out: Callable[[str], None] = print) -> int:
    """Turn sync on for connection ``name`` (or one entity of it) and run the initial import."""
    from flows.initial_import import initial_import
    from flows.parameters import EntityName

    block = _load(name)
    if entity:
        _set_entity(block, name, entity, enabled=True)
        chosen: list[EntityName] | None = [EntityName(entity)]
    else:
        if _set_flag(block, name, enabled=True):
            out(f"{name}: sync was enabled already; nothing done")
            return 0
        chosen = None
    # A flow takes the block's name for its connection parameter (Prefect loads the block).
    rows = cast(list[dict[str, Any]], initial_import(connection=name, hours=LOOKBACK_HOURS,  # type: ignore[call-overload]
                                                      entities=chosen))
    moved = sum(int(r.get("inserted", 0) or 0) + int(r.get("updated", 0) or 0) for r in rows)
    failed = sum(int(r.get("failed", 0) or 0) for r in rows)
    what = entity or "sync"
    out(f"{name}: {what} enabled; initial import: {moved} Salesforce records of the last {LOOKBACK_HOURS} hours "
        f"written, {failed} failed; ERP records created from now on go out")
    return 0
