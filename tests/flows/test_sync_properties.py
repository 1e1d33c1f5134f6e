"""Property: whatever users do in both systems, with sync runs and transient faults in between, one
fault-free round (incremental sync both ways, a reconciling deletion sweep, a last sync) leaves both systems
agreeing under the mapping, nothing duplicated, and no update lost unless a recorded conflict settled it;
no conflict is held where both sides hold the same values, and every later edit syncs.

Runs die at any point: a fault kills a run at the first read or write of either system, and a lost reply
(the write committed, its answer dropped) either is retried or, repeated past the clients' retries, kills the
run just after its write and before its bindings are recorded. The next run settles such a page without a
conflict. Conflicts are settled by ``crm_wins`` or held for a person (``hold``).

The engine runs here without Prefect (a failed run is what Prefect would see once a task's retries are
used up; the next scheduled run is the retry), so many interleavings fit in a fast test.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlmodel import col, select

from blocks.connection import ConnectionOptions, SyncConnection
from blocks.store import StateStore
from tandem.mapping import Direction
from tandem.store import session_scope
from tandem.store.bindings import CONFLICT_HELD
from tandem.store.runs import finish_run, last_succeeded_run
from tandem.store.tables import Binding, RunState, SyncConflict, SyncRun
from tandem.store.types import utc_now
from tandem.sync.conflicts import ConflictPolicy
from tandem.sync.context import SyncContext
from tandem.sync.deletions import DELETION_WINDOW, sweep_entity
from tandem.sync.jobs import run_entity_job
from tasks.setup import begin_run, open_connection
from tests.flows.clients import erp_client, salesforce
from tests.flows.conftest import erp_block, salesforce_block
from tests.support.emulator import RunningEmulator

MAPPING = {
    "name": "property",
    "entities": {
        "customer": {
            "crm_object": "Account", "erp_type": "customer", "direction": "both", "deletion": "delete",
            "fields": [{"crm": "Name", "erp": "companyName"}, {"crm": "Phone", "erp": "phone"}],
        }
    },
}
ENDPOINTS = {  # the requests a fault hits: reads, or writes (where commit-then-drop matters)
    ("crm", "read"): "query|collections.retrieve", ("crm", "write"): "collections.(upsert|update|delete)",
    ("erp", "read"): "search|getList|getDeleted", ("erp", "write"): "upsertList|deleteList",
}
BOTH = (Direction.TO_CRM, Direction.TO_ERP)

sides = st.sampled_from(["crm", "erp"])
faults = st.none() | st.tuples(  # up to 4 in a row: past the clients' own retries, so some runs fail
    sides, st.sampled_from(["http_503", "reset", "commit_then_drop", "latency"]), st.integers(1, 4),
    st.sampled_from(["read", "write"]),
)
#: Lost replies on the write endpoints: once or twice (retried), or 8 times in a row (past every retry: the run
#: dies after its write committed, before its bindings are recorded, as if killed there).
lost_replies = st.tuples(sides, st.just("commit_then_drop"), st.sampled_from([1, 2, 8]), st.just("write"))
#: A run killed at its first read (nothing done) or right after its first write (written, not recorded).
kills = st.tuples(sides, st.sampled_from(["reset", "commit_then_drop"]), st.just(8), st.none()).map(
    lambda k: (k[0], k[1], k[2], "read" if k[1] == "reset" else "write")
)
policies = st.sampled_from([ConflictPolicy.CRM_WINS, ConflictPolicy.HOLD])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), sides),
        st.tuples(st.just("update"), sides, st.integers(0, 20)),
        st.tuples(st.just("delete"), sides, st.integers(0, 20)),
        st.tuples(st.just("sync"), st.sampled_from(["to_crm", "to_erp", "both"]), faults | lost_replies | kills),
        st.tuples(st.just("sweep"), faults),
    ),
    min_size=4, max_size=12,
)


@dataclass
class World:
    """What the users did: per logical record, its ids and every phone number written on each side."""

    crm: RunningEmulator
    erp: RunningEmulator
    keys: list[str] = field(default_factory=list)  # "C3" made in Salesforce, "E5" in the ERP
    crm_ids: dict[str, str] = field(default_factory=dict)  # for "C" keys: the Salesforce id
    writes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # key -> [(side, value)] in order
    deleted: set[str] = field(default_factory=set)
    crashed: bool = False  # a run failed, and no run of both directions succeeded since
    in_crash_window: set[str] = field(default_factory=set)  # records users changed meanwhile

    def link(self, key: str) -> str:
        """The record's link key (the ERP externalId, Salesforce's ERP_Id__c)."""
        return self.crm_ids[key] if key.startswith("C") else key

    def crm_id(self, key: str) -> str | None:
        found = salesforce(self.crm).query(f"SELECT Id FROM Account WHERE ERP_Id__c = '{self.link(key)}'")["records"]
        if found:
            return str(found[0]["Id"])
        return self.crm_ids.get(key)

    def erp_id(self, key: str) -> str | None:
        frame = erp_client(self.erp).read_by_keys("customer", "externalId", [self.link(key)], fields=[])
        return str(frame["id"].iloc[0]) if len(frame) else None


def _apply(world: World, step: int, op: tuple[Any, ...], run: Any) -> None:
    kind = op[0]
    if kind == "create":
        key = f"{'C' if op[1] == 'crm' else 'E'}{step}"
        if op[1] == "crm":
            world.crm_ids[key] = str(salesforce(world.crm).Account.create({"Name": key})["id"])
        else:
            record = {"externalId": key, "companyName": key}
            written = erp_client(world.erp).upsert_batch("customer", "externalId", [record])
            assert written[0].ok
        world.keys.append(key)
        world.writes[key] = []
    elif kind in ("update", "delete") and world.keys:
        key = world.keys[op[2] % len(world.keys)]
        if key in world.deleted:
            return
        side = op[1]
        record_id = world.crm_id(key) if side == "crm" else world.erp_id(key)
        if record_id is None:  # not on that side yet
            return
        if world.crashed:
            world.in_crash_window.add(key)
        if kind == "update":
            value = f"+1 555 {step:04d}"
            if side == "crm":
                salesforce(world.crm).Account.update(record_id, {"Phone": value})
            else:
                change = {"externalId": world.link(key), "phone": value}
                erp_client(world.erp).upsert_batch("customer", "externalId", [change])
            world.writes[key].append((side, value))
        else:
            if side == "crm":
                salesforce(world.crm).Account.delete(record_id)
            else:
                erp_client(world.erp).delete_batch("customer", [record_id])
            world.deleted.add(key)
    elif kind in ("sync", "sweep"):
        fault = op[2] if kind == "sync" else op[1]
        if fault is not None:
            emulator = world.crm if fault[0] == "crm" else world.erp
            rule: dict[str, Any] = {"pattern": ENDPOINTS[(fault[0], fault[3])], "kind": fault[1], "count": fault[2]}
            if fault[1] == "latency":
                rule["latency_ms"] = 2500  # longer than the clients' 2-second timeouts
            emulator.control("POST", "faults", json=rule)
        try:
            run(kind, op[1] if kind == "sync" else "both")
            if kind == "sync" and op[1] == "both":
                world.crashed = False
        except Exception as exc:  # a run that failed under a fault: the next run picks up from there
            event(f"a {kind} run failed: {type(exc).__name__}")
            world.crashed = True
        finally:
            for emulator in (world.crm, world.erp):
                emulator.control("DELETE", "faults")


def _runner(block: SyncConnection) -> Any:
    def run(kind: str, direction: str) -> None:
        procedure = "deletion-sweep" if kind == "sweep" else "incremental-sync"
        opened: SyncContext = open_connection.fn(
            block, name="prop", procedure=procedure, entities=["customer"], dry_run=False, enable_sync=True,
        )
        context = begin_run(opened, procedure, ["customer"], flow_run_id="property-test")
        state = RunState.FAILED
        try:
            if kind == "sweep":
                with session_scope(context.store, write=False) as session:
                    last = last_succeeded_run(session, context.connection_id, "deletion-sweep")
                sweep_entity(context, "customer", window=DELETION_WINDOW, last_sweep=last.started_at if last else None)
            else:
                directions = BOTH if direction == "both" else (Direction(direction),)
                run_entity_job(context, "customer", from_watermarks=True, directions=directions)
            state = RunState.SUCCEEDED
        finally:
            assert context.run_id is not None
            with session_scope(context.store) as session:
                finish_run(session, context.run_id, state)

    return run


CRM_WINS, HOLD = ConflictPolicy.CRM_WINS, ConflictPolicy.HOLD
KILLED_AFTER_CRM_WRITE = ("crm", "commit_then_drop", 8, "write")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, policy=policies)
@example(ops=[("create", "crm"), ("sync", "to_erp", None), ("update", "crm", 0), ("delete", "erp", 0)], policy=CRM_WINS)
@example(ops=[("create", "crm"), ("sync", "to_erp", None), ("create", "crm"), ("delete", "erp", 0)], policy=CRM_WINS)
# The run stops after writing the ERP records, before coupling them: ERP → CRM must couple, not create again.
@example(ops=[("create", "crm"), ("create", "crm"), ("sync", "to_erp", ("crm", "http_503", 1, "write"))],
         policy=CRM_WINS)
# Killed after updating Salesforce, before recording it: the next run re-links, holds nothing, and later edits sync.
@example(ops=[("create", "erp"), ("create", "erp"), ("sync", "both", None), ("update", "erp", 0), ("update", "erp", 1),
              ("sync", "to_crm", KILLED_AFTER_CRM_WRITE), ("update", "crm", 1)], policy=HOLD)
# The same with a lost reply on the ERP's writes, and a record then changed on both sides (a real conflict).
@example(ops=[("create", "crm"), ("create", "crm"), ("sync", "both", None), ("update", "crm", 0), ("update", "crm", 1),
              ("sync", "to_erp", ("erp", "commit_then_drop", 8, "write")), ("update", "erp", 1), ("update", "crm", 1),
              ("sync", "both", None)], policy=HOLD)
def test_both_systems_agree_after_a_fault_free_round(
    crm: RunningEmulator, erp: RunningEmulator, ops: list[tuple[Any, ...]], policy: ConflictPolicy
) -> None:
    for emulator in (crm, erp):
        emulator.control("POST", "reset", json={"seed": "none"})
        emulator.control("DELETE", "faults")
    with tempfile.TemporaryDirectory(prefix="tandem-property-") as directory:
        _check_a_round(crm, erp, ops, policy, Path(directory))


def _check_a_round(
    crm: RunningEmulator, erp: RunningEmulator, ops: list[tuple[Any, ...]], policy: ConflictPolicy, workdir: Path
) -> None:
    """Apply ``ops``, then the fault-free round, with the connection's mapping and store in ``workdir``."""
    (workdir / "mapping.yaml").write_text(yaml.safe_dump(MAPPING))
    block = SyncConnection(
        salesforce=salesforce_block(crm, read_timeout=2.0), erp=erp_block(erp, operation_timeout=2.0),
        store=StateStore(url=SecretStr(f"sqlite:///{workdir / 'state.sqlite3'}")),
        mapping_set=str(workdir / "mapping.yaml"),
        options=ConnectionOptions(conflict_policy=policy),
    )
    run = _runner(block)
    world = World(crm, erp)
    for step, op in enumerate(ops):
        _apply(world, step, op, run)

    # The fault-free round. Salesforce's deleted/ counts whole minutes only, so the last minute's deletions
    # are invisible to a window read: the round's sweep reconciles (its last sweep is made to look old).
    run("sync", "both")
    engine = block.store.get_engine()
    with session_scope(engine) as session:
        session.execute(
            sa.update(SyncRun)
            .where(SyncRun.procedure == "deletion-sweep")
            .values(started_at=utc_now() - timedelta(days=30))
        )
    run("sweep", "both")
    run("sync", "both")
    held = _held(world, engine)
    _check(world, engine, held)
    _later_edits_sync(world, run, held)


def _held(world: World, engine: sa.Engine) -> set[str]:
    """The CRM ids of the records held as conflicts; each must differ between the systems (a conflict held
    where both sides hold the same values is a page a crashed run wrote, which must have been re-linked)."""
    with session_scope(engine, write=False) as session:
        bindings = session.exec(
            select(Binding).where(col(Binding.error_code) == CONFLICT_HELD, col(Binding.archived).is_(False))
        ).all()
    held = {str(b.crm_id) for b in bindings}
    if not held:
        return held
    accounts = {a["Id"]: a for a in salesforce(world.crm).query_all("SELECT Id, Name, Phone FROM Account")["records"]}
    customers = {str(c["internalId"]): c for c in pd_records(erp_client(world.erp))}
    for binding in bindings:
        account, customer = accounts[str(binding.crm_id)], customers[str(binding.erp_id)]
        assert (account["Name"], account["Phone"]) != (customer["companyName"], customer["phone"]), (
            "a conflict is held although both sides hold the same values", binding.crm_id)
    event("a conflict is held (the values differ)")
    return held


def _later_edits_sync(world: World, run: Any, held: set[str]) -> None:
    """Edit every record not deleted nor held, on one side or the other, sync once: each edit reached the other side."""
    expected: dict[str, str] = {}
    for n, key in enumerate(world.keys):
        if key in world.deleted or world.crm_id(key) in held:
            continue
        step = 1000 + n  # the value written is ``+1 555 {step}``
        _apply(world, step, ("update", "crm" if n % 2 else "erp", world.keys.index(key)), run)
        expected[world.link(key)] = f"+1 555 {step:04d}"
    if not expected:
        return
    run("sync", "both")
    accounts = salesforce(world.crm).query_all("SELECT Phone, ERP_Id__c FROM Account")["records"]
    crm_phones = {a["ERP_Id__c"]: a["Phone"] for a in accounts}
    erp_phones = {str(c["externalId"]): c["phone"] for c in pd_records(erp_client(world.erp))}
    for link, value in expected.items():
        assert (crm_phones.get(link), erp_phones.get(link)) == (value, value), (link, value)


def _check(world: World, engine: sa.Engine, held: set[str]) -> None:
    accounts = salesforce(world.crm).query_all("SELECT Id, Name, Phone, ERP_Id__c FROM Account")["records"]
    customers = pd_records(erp_client(world.erp))
    links = [a["ERP_Id__c"] for a in accounts]
    assert None not in links, accounts  # every account is coupled
    assert len(set(links)) == len(links), links  # nothing twice in Salesforce
    by_link = {str(c["externalId"]): c for c in customers}
    assert len(by_link) == len(customers)  # nothing twice in the ERP
    assert set(by_link) == set(links)  # the same records on both sides
    for account in accounts:  # agreeing under the mapping (a held conflict waits for a person)
        partner = by_link[account["ERP_Id__c"]]
        if account["Id"] not in held:
            assert (account["Name"], account["Phone"]) == (partner["companyName"], partner["phone"])
    present = {link: account for link, account in zip(links, accounts, strict=True)}
    with session_scope(engine, write=False) as session:
        conflicts = session.exec(select(SyncConflict)).all()
    for key in world.keys:
        link = world.link(key)
        if key in world.in_crash_window:
            # Known limits: a record a failed run wrote without recording its binding has no last sync to compare
            # with. Deleted in Salesforce before the next run, its ERP copy is created again (no binding tells the
            # deletion sweep); edited on the side the next run writes to, that edit is overwritten (coupling
            # writes the source's values). Both sides still agree, nothing twice (checked above).
            continue
        if key in world.deleted:
            assert link not in present, f"{key} was deleted on one side but survives"
            continue
        assert link in present, f"{key} is missing"
        writes = world.writes[key]
        if not writes:
            continue
        final = present[link]["Phone"]
        last_by_side = {side: value for side, value in writes}
        assert final in last_by_side.values(), (key, final, writes)  # a value someone wrote last on a side
        if final != writes[-1][1]:  # the very last write lost: only a recorded conflict may do that
            account_id = present[link]["Id"]
            assert any(c.crm_id == account_id for c in conflicts), (key, final, writes)


def pd_records(erp: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    fields = ["internalId", "externalId", "companyName", "phone"]
    for page in erp.read_changed_since("customer", None, fields=fields, page_size=1000):
        rows.extend(page.astype(object).where(page.notna(), None).to_dict("records"))
    return rows
