"""The opposite pass of a two-way entity knows the records its run wrote and read back (:mod:`tandem.sync.read_backs`):
they are unchanged without being mapped again, and counted in the job's figures; a record edited after its
read-back is still carried back. Against both emulators (demo data)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from flows.full_sync import full_sync
from flows.parameters import EntityName
from tandem.mapping import Direction
from tandem.store import session_scope
from tandem.store.tables import Binding
from tandem.sync.context import Route, SyncContext
from tandem.sync.entity_pass import EntityPass
from tandem.sync.jobs import READ_BACK_DETAIL, run_entity_job
from tests.flows.conftest import engine_context, save_connection
from tests.support.emulator import RunningEmulator

ROOT = Path(__file__).resolve().parents[2]
EDITED_PHONE = "+1 555 0142"


@pytest.fixture
def context(fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path) -> Iterator[SyncContext]:
    """A sync context on both emulators (demo data) and an empty state store."""
    # Pages of 100: the 300 records read back are more than a page, so the opposite pass reads narrow first.
    with engine_context(*fresh, tmp_path / "state.sqlite3", "echo", page_size=100) as context:
        yield context


def test_a_record_edited_after_its_read_back_is_still_carried_back(context: SyncContext) -> None:
    run_entity_job(context, "payment_term")  # the customers' payment terms refer to them
    customer = context.mappings.entity("customer")
    forward = EntityPass(context, Route.of(customer, Direction.TO_CRM)).run(None)
    written = forward.counts.inserted + forward.counts.coupled + forward.counts.modified
    assert written == 300 and forward.counts.failed == 0
    with session_scope(context.store, write=False) as session:
        pairs = session.exec(select(Binding).where(Binding.entity == "customer", Binding.crm_id.is_not(None),  # type: ignore[union-attr]
                                                   Binding.erp_id.is_not(None))).all()  # type: ignore[union-attr]
        ids = {str(b.crm_id): str(b.erp_id) for b in pairs}
    crm_id = sorted(ids)[150]
    # A person edits the account in Salesforce after the forward pass read it back, before the opposite pass.
    assert all(r.ok for r in context.crm.update_batch("Account", [{"id": crm_id, "Phone": EDITED_PHONE}]))
    stamps = context.crm.read_by_ids("Account", sorted(ids), fields=[])["modified_at"]

    backward = EntityPass(context, Route.of(customer, Direction.TO_ERP)).run(None)

    # Every other record the forward pass wrote is known from its read-back (but for a batch the emulator happened
    # to stamp on whole seconds only, which the one-second rule maps again); the edited one is mapped and written.
    whole_seconds = int((stamps.dt.microsecond == 0).sum())
    assert written - 1 - whole_seconds <= backward.unchanged_read_back <= written - 1
    assert backward.counts.modified == 1 and backward.counts.failed == 0
    in_erp = context.erp.read_by_ids("customer", [ids[crm_id]], fields=["phone"])
    assert in_erp["phone"].tolist() == [EDITED_PHONE]


def test_a_full_sync_counts_the_records_known_from_the_read_back_and_writes_no_echo(
    fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path
) -> None:
    crm, erp = fresh
    save_connection("echo-flow", crm, erp, tmp_path / "state.sqlite3")
    entities = [EntityName("payment_term"), EntityName("customer")]
    first = {row["entity"]: row for row in full_sync(connection="echo-flow", entities=entities)}
    customer = first["customer"]
    # The ERP's 300 customers went to Salesforce (294 created, 6 coupled) and were read back: the opposite pass
    # knew all of them unchanged without mapping them.
    assert customer[READ_BACK_DETAIL] == 300 and customer["failed"] == 0
    assert customer["unchanged"] >= 300

    crm.control("DELETE", "counters")
    erp.control("DELETE", "counters")
    second = {row["entity"]: row for row in full_sync(connection="echo-flow", entities=entities)}["customer"]
    # A new run knows nothing of the last one's read-backs: it maps every record, and none changed (no echo).
    assert READ_BACK_DETAIL not in second
    assert (second["inserted"], second["modified"], second["coupled"], second["failed"]) == (0, 0, 0, 0)
    erp_calls = erp.control("GET", "counters")["by_endpoint"]
    assert not [name for name in erp_calls if name.startswith(("add", "update", "upsert"))], erp_calls
