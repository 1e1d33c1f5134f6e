"""Settle held conflicts: a person chooses whose values stand."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.orchestration import engine_logs_in_prefect, opened
from flows.parameters import EntityName
from tandem.store.tables import Side
from tasks.report import publish_report
from tasks.resolve import resolve_held

PROCEDURE = "resolve-conflicts"


@flow(name=PROCEDURE)
def resolve_conflicts(
    entity: EntityName, keep: Side, connection: str = "demo", record_ids: list[str] | None = None
) -> list[dict[str, object]]:
    """Write the chosen side's values over the other side for records whose conflict is held.

    A conflict is held when the entity's conflict policy is ``hold`` and a record changed in both
    systems since its last sync; the incremental sync's ``incremental-sync-conflicts`` artifact and the
    record's status card list them. This flow reads the kept side's record and writes it to the other
    side (by id), so both hold the kept values and the record syncs again.

    Args:
        connection: the name of the Tandem Sync Connection block.
        entity: the entity whose held records to settle.
        keep: whose values stand: ``crm`` or ``erp``.
        record_ids: only these records (CRM or ERP ids); all held records of the entity when empty.

    Returns:
        One row with the counts (also published as a table artifact).
    """
    with engine_logs_in_prefect(), opened(connection, PROCEDURE, [entity], dry_run=False) as run:
        if run is None:
            return []
        context, _ = run
        report = resolve_held(context, str(entity.value), keep, record_ids or [])
        get_run_logger().info(
            "%s: %d held records settled; the %s values stand", entity.value, report.counts.modified, keep.value
        )
        return publish_report(context, PROCEDURE, [report])
