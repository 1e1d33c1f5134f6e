"""Couple records: bind existing Salesforce and ERP records by hand or by the entity's match keys."""

from __future__ import annotations

from prefect import State, flow, get_run_logger
from prefect.states import Completed
from pydantic import BaseModel, Field

from flows.orchestration import engine_logs_in_prefect, opened, run_outcome
from flows.parameters import ConnectionParameter, EntityName, form_field
from tandem.sync.manual_coupling import Pair, entity_of, propose_matches
from tasks.couple_records import couple_in_batches, publish_outcomes
from tasks.parameters import untraversed
from tasks.report import publish_report

PROCEDURE = "couple-records"


class RecordPair(BaseModel):
    """A Salesforce record and an ERP record to couple."""

    crm_id: str = Field(title="Salesforce id", description="The Salesforce record id.")
    erp_id: str = Field(title="ERP internal id", description="The ERP record's internal id.")


@flow(name=PROCEDURE)
def couple_records(
    connection: ConnectionParameter = form_field("Connection"),
    entity: EntityName = form_field("Entity"),
    pairs: list[RecordPair] | None = form_field("Pairs", None),
    match: bool = form_field("Couple by match keys", False),
    dry_run: bool = form_field("Dry run", False),
) -> State[list[dict[str, object]]]:
    """Couple existing records, so that the next sync writes each pair instead of creating either again.

    Give the pairs (a Salesforce id and an ERP internal id each), or switch on match-based coupling to couple the
    pairs the entity's match keys propose, in the mapping's priority order (with Dry run: list them and write
    nothing). Each pair is checked a batch at a time: both records exist and are of the entity's object and record
    type, and neither is coupled already; a refused pair is listed with its reason and the others are coupled.
    The run's couple-records-outcomes table lists every pair (ids, the match fields used, the outcome). The next
    incremental or full sync writes each coupled pair whole, in the entity's direction.

    Args:
        connection: The saved Tandem Sync Connection whose records to couple.
        entity: The entity of the records.
        pairs: The pairs to couple; leave empty with Couple by match keys.
        match: Couple the pairs the entity's match keys propose (records coupled with nothing only).
        dry_run: Check (and list) the pairs; write nothing.

    Returns:
        The final state: Completed, NeedsAttention (pairs were refused) or Failed (a batch could not run); its
        data is one row per pair with its outcome (also published as a table artifact).
    """
    name = str(entity.value)
    chosen = [Pair(p.crm_id, p.erp_id) for p in pairs or []]
    if bool(chosen) == match:
        raise ValueError("give the pairs to couple, or switch on Couple by match keys (not both)")
    with engine_logs_in_prefect(), opened(connection, PROCEDURE, [entity], dry_run=dry_run) as run:
        if run is None:
            return Completed(data=[])
        context, _ = run
        mapping = entity_of(context, name)
        preview = propose_matches(context, mapping) if match else None
        if preview is not None:
            chosen = [p.pair for p in preview.proposals]
        get_run_logger().info("%s: coupling %d pairs", name, len(chosen))
        report, result = couple_in_batches(context, mapping, chosen)
        rows = publish_outcomes(name, result, preview, dry_run=dry_run)
        publish_report(untraversed(context), PROCEDURE, [report])
    return run_outcome([report], rows)
