"""Retry records: sync chosen failed records of one entity now, and say how each one ended."""

from __future__ import annotations

from prefect import State, flow, get_run_logger
from prefect.states import Completed

from flows.orchestration import NEEDS_ATTENTION, engine_logs_in_prefect, opened, run_outcome
from flows.parameters import ConnectionParameter, EntityName, form_field
from tandem.sync.retry import MAX_RECORDS, Outcome, select_records
from tasks.parameters import untraversed
from tasks.report import publish_report
from tasks.retry_records import publish_outcomes, retry_in_batches

PROCEDURE = "retry-records"


@flow(name=PROCEDURE)
def retry_records(
    connection: ConnectionParameter = form_field("Connection"),
    entity: EntityName = form_field("Entity"),
    record_ids: list[str] | None = form_field("Record ids", None),
    dry_run: bool = form_field("Dry run", False),
) -> State[list[dict[str, object]]]:
    """Sync failed records of one entity now, once their cause is fixed, instead of waiting for the next sync.

    Each record is read again by its id and goes through the entity's usual sync (mapping, matching, writing by
    external id, in every direction the entity syncs), a batch of records at a time. The run's
    retry-records-outcomes table says how each record ended: synced, still failing (with the error code), not
    found (the record no longer exists, or the id is unknown), not failing (nothing to retry), or a held
    conflict (settled by the resolve-conflicts flow, not retried here). The list of failing records comes from
    tandem failures or the /failures page of tandem serve.

    Args:
        connection: The saved Tandem Sync Connection whose records to retry.
        entity: The entity of the records.
        record_ids: The records to retry, by their Salesforce or ERP id (as tandem failures lists them); leave
            empty to retry every record of the entity that fails now.
        dry_run: Say which records would be retried and write nothing.

    Returns:
        The final state: Completed, NeedsAttention (records still fail) or Failed (a batch could not run); its
        data is one row per record with its outcome (also published as a table artifact).

    Raises:
        JobsFailedError: after the outcomes are published, when a batch failed after its retries.
    """
    logger = get_run_logger()
    name = str(entity.value)
    with engine_logs_in_prefect(), opened(connection, PROCEDURE, [entity], dry_run=dry_run) as run:
        if run is None:
            return Completed(data=[])
        context, _ = run
        chosen = select_records(context, name, record_ids or [])
        if chosen.truncated:
            logger.warning("%s: more than %d records fail; this run retries the %d latest, run it again for the rest",
                           name, MAX_RECORDS, MAX_RECORDS)
        logger.info("%s: retrying %d failed records (%d named records need no retry)", name, len(chosen.records),
                    len(chosen.settled))
        report, retried = retry_in_batches(context, name, chosen.records)
        rows = publish_outcomes(name, [*retried, *chosen.settled], dry_run=dry_run)
        publish_report(untraversed(context), PROCEDURE, [report])
    state = run_outcome([report], rows)
    still = sum(outcome.outcome is Outcome.STILL_FAILING for outcome in retried)
    if still and state.name != NEEDS_ATTENTION:  # failing, though unchanged since they last failed
        message = f"{still} records still fail ({name}): see the run's artifacts and `tandem failures`"
        return Completed(name=NEEDS_ATTENTION, message=message, data=rows)
    return state
