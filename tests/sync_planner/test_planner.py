"""The pure planner: small literal pages and bindings in, a plan out (no emulator, no Prefect, no store)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from tandem.mapper import MappedPage, Mapper
from tandem.mapping import Direction, EntityMapping
from tandem.store.tables import Binding, BindingStatus, Side
from tandem.sync.codes import SyncCode
from tandem.sync.conflicts import HELD, ConflictPolicy
from tandem.sync.coupling import Match
from tandem.sync.planner import PagePlanner, Plan, Targets

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def entity(direction: str = "to_crm", *, create_missing: bool = True) -> EntityMapping:
    """A customer mapping with a name and a phone."""
    return EntityMapping.model_validate({
        "name": "customer", "crm_object": "Account", "erp_type": "customer", "crm_key": "Link__c",
        "direction": direction, "create_missing": create_missing,
        "fields": [{"crm": "Name", "erp": "companyName"}, {"crm": "Phone", "erp": "phone"}],
    })


def planner(direction: Direction = Direction.TO_CRM, *, two_way: bool = False, **options: Any) -> PagePlanner:
    """A planner of the customer entity towards ``direction`` (the ERP position lends no links)."""
    mapping = entity("both" if two_way else direction.value, create_missing=options.get("create_missing", True))
    mapper = Mapper(mapping, direction)
    opposite = Direction.TO_ERP if direction is Direction.TO_CRM else Direction.TO_CRM
    reverse = Mapper(mapping, opposite) if two_way else None
    source = Side.ERP if direction is Direction.TO_CRM else Side.CRM
    links = {Side.CRM: "Link__c", Side.ERP: "externalId"}
    return PagePlanner(
        mapper, reverse, source_side=source, source_link=links[source],
        target_link=links[Side.CRM if source is Side.ERP else Side.ERP], mints_link=source is Side.CRM,
        missing_link="the ERP record has no externalId", **options,
    )


def page(rows: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], pd.DataFrame]:
    """Source rows by id, and their frame (with ``modified_at``)."""
    frame = pd.DataFrame([{"modified_at": NOW, **row} for row in rows])
    return {str(row["id"]): {"modified_at": NOW, **row} for row in rows}, frame


def mapped(p: PagePlanner, frame: pd.DataFrame) -> MappedPage:
    return p.mapper.map_page(frame)


def binding(p: PagePlanner, source_id: str, target_id: str, *, digest: str | None, link: str | None = "L1",
            status: BindingStatus = BindingStatus.SYNCED, code: str | None = None,
            target_digest: str | None = None) -> Binding:
    """A binding of a source record as the store would hold it."""
    ids = {p.source_side: source_id, p.target_side: target_id}
    digests = {p.source_side: digest, p.target_side: target_digest}
    return Binding(connection_id=1, entity="customer", crm_id=ids[Side.CRM], erp_id=ids[Side.ERP], external_id=link,
                   crm_hash=digests[Side.CRM], erp_hash=digests[Side.ERP], status=status, error_code=code)


def test_a_new_record_is_created_with_its_link_and_one_without_a_link_fails() -> None:
    p = planner()
    rows, frame = page([{"id": "7", "externalId": "C-7", "companyName": "Acme", "phone": "1"},
                        {"id": "8", "externalId": None, "companyName": "Bare", "phone": None}])
    plan = Plan()
    p.decide(plan, rows, mapped(p, frame), {}, {}, set())
    assert [(w.source_id, w.target_id, w.link, w.record) for w in plan.creates] == [
        ("7", None, "C-7", {"Name": "Acme", "Phone": "1"})
    ]
    assert [(e.record_id, e.code) for e in plan.errors] == [("8", SyncCode.MISSING_EXTERNAL_ID)]
    assert plan.errors[0].code == "MISSING_EXTERNAL_ID"  # a StrEnum: stored as the same text
    assert plan.counts == {"failed": 1}
    assert (plan.bindings[0].erp_id, plan.bindings[0].status) == ("8", BindingStatus.FAILED)


def test_a_record_from_the_crm_position_lends_its_id_and_gets_it_written_back() -> None:
    p = planner(Direction.TO_ERP)
    rows, frame = page([{"id": "001A", "Link__c": None, "Name": "Acme", "Phone": "1"}])
    plan = Plan()
    p.decide(plan, rows, mapped(p, frame), {}, {}, set())
    [create] = plan.creates
    assert (create.link, create.write_back) == ("001A", True)


def test_unchanged_bound_records_are_not_written_and_changed_ones_update_their_partner() -> None:
    p = planner()
    rows, frame = page([{"id": "1", "externalId": "L1", "companyName": "Same", "phone": "1"},
                        {"id": "2", "externalId": "L2", "companyName": "New name", "phone": "2"}])
    page_mapped = mapped(p, frame)
    digests = dict(zip(page_mapped.source_ids, page_mapped.hashes, strict=True))
    bound = {"1": binding(p, "1", "T1", digest=digests["1"]),
             "2": binding(p, "2", "T2", digest="stale", link="L2")}
    plan = Plan()
    p.decide(plan, rows, page_mapped, bound, {}, set())
    assert plan.counts == {"unchanged": 1}
    assert [(w.source_id, w.target_id, w.link, w.coupling) for w in plan.updates] == [("2", "T2", "L2", False)]
    forced = planner(force=True)
    plan = Plan()
    forced.decide(plan, rows, page_mapped, bound, {}, set())
    assert [w.source_id for w in plan.updates] == ["1", "2"]


def test_matches_couple_fail_when_ambiguous_or_taken_and_nothing_is_created_without_create_missing() -> None:
    p = planner()
    rows, frame = page([{"id": str(n), "externalId": f"L{n}", "companyName": f"N{n}", "phone": None}
                        for n in range(1, 5)])
    matches = {"1": Match(target_id="T1", target_link="L1", exact=True), "2": Match(ambiguous=True),
               "3": Match(target_id="T3")}
    plan = Plan()
    p.decide(plan, rows, mapped(p, frame), {}, matches, {"T3"})
    assert [(w.source_id, w.target_id, w.coupling) for w in plan.updates] == [("1", "T1", True)]
    assert {e.record_id: e.code for e in plan.errors} == {"2": SyncCode.AMBIGUOUS_MATCH, "3": SyncCode.MATCH_TAKEN}
    assert [w.source_id for w in plan.creates] == ["4"]
    skipping = planner(create_missing=False)
    plan = Plan()
    skipping.decide(plan, rows, mapped(skipping, frame), {}, {}, set())
    assert (plan.creates, plan.counts) == ([], {"skipped": 4})


def test_records_uncoupled_or_excluded_on_the_other_side_are_skipped() -> None:
    p = planner()
    rows, frame = page([{"id": "1", "externalId": "L1", "companyName": "A", "phone": None},
                        {"id": "2", "externalId": "L2", "companyName": "B", "phone": None}])
    bound = {"1": binding(p, "1", "T1", digest=None, status=BindingStatus.EXCLUDED, code="UNCOUPLED"),
             "2": binding(p, "2", "T2", digest=None, status=BindingStatus.EXCLUDED, code=SyncCode.EXCLUDED_IN_CRM)}
    plan = Plan()
    p.decide(plan, rows, mapped(p, frame), bound, {}, set())
    assert plan.counts == {"skipped": 2} and not plan.updates and not plan.creates


def test_a_filtered_record_is_excluded_unless_the_only_new_rule_meets_a_coupled_one() -> None:
    p = planner()
    bound = {"2": binding(p, "2", "T2", digest=None)}
    plan = Plan()
    p.exclude(plan, {"1": ("category = retail", False), "2": ("only new", True)}, bound)
    assert plan.counts == {"skipped": 2}
    [excluded] = plan.bindings
    assert (excluded.erp_id, excluded.status, excluded.error_code) == (
        "1", BindingStatus.EXCLUDED, SyncCode.EXCLUDED_IN_ERP)


def test_a_gone_target_is_skipped_and_one_holding_the_values_is_relinked_without_a_write() -> None:
    p = planner()
    rows, frame = page([{"id": "1", "externalId": "L1", "companyName": "A", "phone": "1"},
                        {"id": "2", "externalId": "L2", "companyName": "B", "phone": "2"},
                        {"id": "3", "externalId": "L3", "companyName": "C", "phone": "3"}])
    bound = {i: binding(p, i, f"T{i}", digest="old", link=f"L{i}") for i in ("1", "2", "3")}
    plan = Plan()
    p.decide(plan, rows, mapped(p, frame), bound, {}, set())
    current = {"T2": {"id": "T2", "Link__c": "L2", "Name": "B", "Phone": "2"},
               "T3": {"id": "T3", "Link__c": "L3", "Name": "old", "Phone": "3"}}
    assert p.vanished(plan, current) == 1
    p.reconcile(plan, rows, bound, Targets(current), NOW)
    assert [w.source_id for w in plan.updates] == ["3"]
    assert plan.counts == {"skipped": 1, "unchanged": 1}
    [relinked] = plan.bindings
    assert (relinked.crm_id, relinked.erp_id, relinked.last_synced_at) == ("T2", "2", NOW)


@pytest.mark.parametrize(("policy", "kept"), [(ConflictPolicy.HOLD, None), (ConflictPolicy.ERP_WINS, "erp"),
                                              (ConflictPolicy.CRM_WINS, "crm")])
def test_a_field_changed_on_both_sides_is_settled_by_the_policy(policy: ConflictPolicy, kept: str | None) -> None:
    p = planner(two_way=True, policy=policy)
    reverse = p.reverse
    assert reverse is not None
    rows, frame = page([{"id": "1", "externalId": "L1", "companyName": "ERP name", "phone": "1"}])
    target_then = {"id": "T1", "Link__c": "L1", "Name": "Old", "Phone": "1"}
    target_now = {"id": "T1", "Link__c": "L1", "Name": "CRM name", "Phone": "1", "modified_at": NOW}
    then = reverse.map_page(pd.DataFrame([target_then]))
    now = reverse.map_page(pd.DataFrame([target_now]))
    source_then = p.mapper.map_page(pd.DataFrame([{"id": "1", "companyName": "Old", "phone": "1"}])).hashes[0]
    bound = {"1": binding(p, "1", "T1", digest=source_then, link="L1", target_digest=then.hashes[0])}
    plan = Plan()
    p.decide(plan, rows, mapped(p, frame), bound, {}, set())
    p.reconcile(plan, rows, bound, Targets({"T1": target_now}, {"T1": now.hashes[0]}, {"T1": now.records[0]}), NOW)
    [conflict] = plan.conflicts
    assert (conflict.crm_id, conflict.erp_id, conflict.policy) == ("T1", "1", policy.value)
    if kept is None:
        assert conflict.outcome == HELD and not plan.updates
        assert plan.bindings[-1].error_code == SyncCode.CONFLICT_HELD
    elif kept == "erp":  # this pass's source stands: the name is written
        assert [w.record for w in plan.updates] == [{"Name": "ERP name"}]
    else:  # the target's name stands (the opposite pass writes it): nothing else changed here
        assert not plan.updates and plan.counts.get("skipped") == 1


def test_a_crm_record_coupled_by_match_takes_its_partners_link() -> None:
    p = planner(Direction.TO_ERP)
    rows, frame = page([{"id": "001A", "Link__c": None, "Name": "Acme", "Phone": None}])
    plan = Plan()
    p.decide(plan, rows, mapped(p, frame), {}, {"001A": Match(target_id="42", target_link="C-42")}, set())
    [update] = plan.updates
    assert (update.target_id, update.link, update.coupling, update.write_back) == ("42", "C-42", True, True)
    assert p.pair("001A", "42") == ("001A", "42")


def test_codes_are_their_stored_text() -> None:
    # Stored codes read back as plain text: equal, and found in sets of codes (an Enum hashes by its name).
    assert all(code.name == code.value == str(code) for code in SyncCode)
    assert "UNCOUPLED" in {SyncCode.UNCOUPLED, SyncCode.UNLINKED}
