"""Settle held conflicts: a person chooses whose values stand."""

from __future__ import annotations

from prefect import State, flow, get_run_logger
from prefect.states import Completed

from flows.orchestration import engine_logs_in_prefect, opened, run_outcome
from flows.parameters import ConnectionParameter, EntityName, form_field
from tandem.store.tables import Side
from tasks.parameters import untraversed
from tasks.report import publish_report
from tasks.resolve import resolve_held

PROCEDURE = "resolve-conflicts"


@flow(name=PROCEDURE)
def resolve_conflicts(
    connection: ConnectionParameter = form_field("Connection"),
    entity: EntityName = form_field("Entity"),
    keep: Side = form_field("Keep the values of"),
    record_ids: list[str] | None = form_field("Record ids", None),
) -> State[list[dict[str, object]]]:
    """Write the chosen side's values over the other side for records whose conflict is held.

    A conflict is held when the entity's conflict policy is ``hold`` and a record changed in both
    systems since its last sync; the incremental sync's ``incremental-sync-conflicts`` artifact and the
    record's status card list them. This flow reads the kept side's record and writes it to the other
    side (by id), so both hold the kept values and the record syncs again.

    Args:
        connection: The saved Tandem Sync Connection whose conflicts to settle.
        entity: The entity whose held records to settle.
        keep: Whose values stand: crm (Salesforce) or erp.
        record_ids: Only these records (Salesforce or ERP ids); leave empty for every held record of the entity.

    Returns:
        The final state (Completed, NeedsAttention or Failed); its data is one row with the counts.
    """
    with engine_logs_in_prefect(), opened(connection, PROCEDURE, [entity], dry_run=False) as run:
        if run is None:
            return Completed(data=[])
        context, _ = run
        report = resolve_held(untraversed(context), str(entity.value), keep, record_ids or [])
        get_run_logger().info(
            "%s: %d held records settled; the %s values stand", entity.value, report.counts.modified, keep.value
        )
        rows = publish_report(untraversed(context), PROCEDURE, [report])
    return run_outcome([report], rows)
