"""Coupling by look-up per page, against both emulators: the match index reads the target records holding a page's
key values (one query per match-key group, a few when the values must be chunked), with the coupling rules of a
whole-target index: priority of the groups, ambiguity, case-insensitive keys, exact links first; a full pass reads
a small target once and an empty one not at all, and so does a look-up of many records whose target is small.
Calls are counted by the emulators' counters."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.mapping import Direction, EntityMapping, MappingSet, MatchKey
from tandem.sync.context import Route, SyncContext
from tandem.sync.coupling import COUNT_BEFORE_LOOKUP, WHOLE_READ_PER_ROW, MatchIndex
from tandem.sync.entity_pass import EntityPass
from tests.flows.conftest import engine_context
from tests.support.emulator import RunningEmulator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def context(fresh: tuple[RunningEmulator, RunningEmulator], tmp_path: Path) -> Iterator[SyncContext]:
    """A sync context on both emulators (demo data) and an empty state store; a dry run (nothing is written)."""
    with engine_context(*fresh, tmp_path / "state.sqlite3", "lookup", page_size=200, dry_run=True) as context:
        yield context


def _entity(mappings: MappingSet, *groups: list[tuple[str, str]]) -> EntityMapping:
    """The default mapping's contact with these match-key groups (pairs of CRM and ERP field)."""
    contact = mappings.entities["contact"]
    keys = [[MatchKey(crm=crm, erp=erp) for crm, erp in group] for group in groups]
    return contact.model_copy(update={"match_keys": keys})


def _calls(emulator: RunningEmulator, endpoint: str) -> int:
    return int(emulator.control("GET", "counters")["by_endpoint"].get(endpoint, 0))


def test_a_page_is_looked_up_in_salesforce_with_one_query_per_group(
    fresh: tuple[RunningEmulator, RunningEmulator], context: SyncContext
) -> None:
    crm, _ = fresh
    sf = context.crm
    made = sf.upsert_batch("Contact", "ERP_Id__c", [
        {"ERP_Id__c": "LK-1", "LastName": "Solo", "FirstName": "Sam", "Email": "solo@lookup.example"},
        {"ERP_Id__c": "LK-2", "LastName": "Twin", "Email": "twin@lookup.example"},
        {"ERP_Id__c": "LK-3", "LastName": "Twin", "Email": "TWIN@Lookup.example"},
        {"ERP_Id__c": "LK-4", "LastName": "Ümlaut", "FirstName": "Zoë"},
    ])
    solo, _, _, umlaut = [r.id for r in made]
    entity = _entity(context.mappings, [("Email", "email")], [("LastName", "lastName"), ("FirstName", "firstName")])
    index = MatchIndex(Route.of(entity, Direction.TO_CRM))
    rows: dict[str, dict[str, Any]] = {
        "solo": {"email": " SOLO@lookup.example "},
        "twin": {"email": "twin@LOOKUP.example", "lastName": "Solo", "firstName": "Sam"},  # the first group wins
        "renamed": {"email": "sam@elsewhere.example", "lastName": "solo", "firstName": "SAM"},  # the second finds
        "umlaut": {"email": None, "lastName": "ÜMLAUT", "firstName": "zoë"},
        "nobody": {"email": "nobody@lookup.example", "lastName": "Nobody", "firstName": "No"},
    }
    crm.control("DELETE", "counters")
    index.look_up(context, list(rows.values()))
    assert _calls(crm, "query") == 2 and index.reads == 2
    found = {name: index.find(row) for name, row in rows.items()}
    assert (found["solo"].target_id, found["solo"].target_link, found["solo"].group) == (solo, "LK-1", 0)
    assert found["twin"].ambiguous and found["twin"].group == 0
    assert (found["renamed"].target_id, found["renamed"].group) == (solo, 1)
    assert (found["umlaut"].target_id, found["umlaut"].group) == (umlaut, 1)
    assert found["nobody"].target_id is None and not found["nobody"].ambiguous
    # The next page's look-up replaces the candidates: the index holds one page's.
    index.look_up(context, [rows["nobody"]])
    assert index.find(rows["solo"]).target_id is None and _calls(crm, "query") == 4


def test_a_page_is_looked_up_in_the_erp_with_one_search_per_key_value(
    fresh: tuple[RunningEmulator, RunningEmulator], context: SyncContext
) -> None:
    _, erp = fresh
    made = context.erp.upsert_batch("contact", "externalId", [
        {"externalId": "LK-1", "lastName": "Solo", "email": "solo@lookup.example"},
        {"externalId": "LK-2", "lastName": "Twin", "email": "twin@lookup.example"},
        {"externalId": "LK-3", "lastName": "Twin", "email": "Twin@Lookup.Example"},
        {"externalId": "LK-4", "lastName": "José", "email": "josé@lookup.example"},
        {"externalId": "LK-5", "lastName": "Longer", "email": "solo@lookup.example.org"},  # found, not equal
    ])
    assert all(r.ok for r in made)
    solo, _, _, jose, _ = [r.id for r in made]
    index = MatchIndex(Route.of(context.mappings.entities["contact"], Direction.TO_ERP))
    rows = {"solo": {"Email": "Solo@lookup.example"}, "twin": {"Email": "TWIN@lookup.example"},
            "jose": {"Email": "JOSÉ@lookup.example"}, "nobody": {"Email": "nobody@lookup.example"},
            "again": {"Email": "solo@LOOKUP.example"}}
    erp.control("DELETE", "counters")
    index.look_up(context, list(rows.values()))
    # SuiteTalk's string criteria take one value: a search per spelling (the accented one in both cases).
    assert _calls(erp, "search") == 6
    found = {name: index.find(row) for name, row in rows.items()}
    assert (found["solo"].target_id, found["solo"].target_link) == (solo, "LK-1")
    assert found["again"].target_id == solo
    assert found["twin"].ambiguous
    assert found["jose"].target_id == jose
    assert found["nobody"].target_id is None and not found["nobody"].ambiguous


def test_many_key_values_are_chunked_into_few_queries(
    fresh: tuple[RunningEmulator, RunningEmulator], context: SyncContext
) -> None:
    crm, _ = fresh
    values = [f"person-{n:04d}@lookup.example" for n in range(700)]
    made = context.crm.upsert_batch("Contact", "ERP_Id__c", [
        {"ERP_Id__c": f"LK-{n}", "LastName": "Chunk", "Email": values[n]} for n in (0, 350, 699)
    ])
    # (No whole reads: the demo org's few contacts would be read whole instead of looked up.)
    index = MatchIndex(Route.of(context.mappings.entities["contact"], Direction.TO_CRM), whole_read_limit=0)
    crm.control("DELETE", "counters")
    index.look_up(context, [{"email": value} for value in values])
    # Each query's URI stays within 8,192 bytes (about 215 such keys, each 37 bytes encoded): 4 queries for 700.
    assert _calls(crm, "query") == 4
    assert [index.find({"email": values[n]}).target_id for n in (0, 350, 699)] == [r.id for r in made]


def test_many_records_looked_up_in_the_erp_read_a_small_target_whole_instead_of_a_search_each(
    fresh: tuple[RunningEmulator, RunningEmulator], context: SyncContext
) -> None:
    _, erp = fresh
    route = Route.of(context.mappings.entities["contact"], Direction.TO_ERP)
    held = context.erp.count("contact")
    wanted = max(COUNT_BEFORE_LOOKUP, math.ceil((held + 1) / WHOLE_READ_PER_ROW))  # as few as read it whole
    rows = [{"Email": f"person-{n}@lookup.example"} for n in range(wanted)]
    made = context.erp.upsert_batch("contact", "externalId", [
        {"externalId": "LK-1", "lastName": "Solo", "email": rows[-1]["Email"].upper()},
    ])
    whole = MatchIndex(route)
    erp.control("DELETE", "counters")
    whole.look_up(context, rows)
    # The count, then the target's pages: not one search per value.
    pages = math.ceil((held + 1) / context.page_size)
    assert _calls(erp, "search") == 2 and _calls(erp, "searchMoreWithId") == pages - 1
    assert whole.complete and whole.find(rows[-1]).target_id == made[0].id
    # A few records are looked up value by value, without the count.
    few = MatchIndex(route)
    erp.control("DELETE", "counters")
    few.look_up(context, rows[-3:])
    assert _calls(erp, "search") == 3 and not few.complete and few.find(rows[-1]).target_id == made[0].id


def test_a_full_pass_reads_a_small_target_once_and_an_empty_one_not_at_all(
    fresh: tuple[RunningEmulator, RunningEmulator], context: SyncContext
) -> None:
    crm, _ = fresh
    route = Route.of(context.mappings.entities["contact"], Direction.TO_CRM)
    row = {"email": "solo@lookup.example"}
    context.crm.upsert_batch("Contact", "ERP_Id__c", [{"ERP_Id__c": "LK-1", "LastName": "Solo", "Email": row["email"]}])
    held = context.crm.count("Contact")
    whole = MatchIndex(route)
    crm.control("DELETE", "counters")
    whole.look_up(context, [row], full=True)
    pages = math.ceil(held / context.page_size)
    assert _calls(crm, "query") == 2 and _calls(crm, "queryMore") == pages - 1  # the count, then every page
    whole.look_up(context, [{"email": "other@lookup.example"}], full=True)  # answered by the index read
    assert whole.find(row).target_id is not None and _calls(crm, "query") == 2
    # Above the limit, a full pass looks up page by page after the count.
    paged = MatchIndex(route, whole_read_limit=held - 1)
    crm.control("DELETE", "counters")
    paged.look_up(context, [row], full=True)
    assert _calls(crm, "query") == 2 and _calls(crm, "queryMore") == 0 and paged.find(row).target_id is not None
    # A target that holds nothing is never looked up.
    units = MatchIndex(Route.of(context.mappings.entities["unit_group"], Direction.TO_CRM))
    for page in list(context.crm.read_changed_since("ERP_Unit_Group__c", None, fields=[], page_size=200)):
        assert all(r.ok for r in context.crm.delete_batch("ERP_Unit_Group__c", page["id"].tolist()))
    crm.control("DELETE", "counters")
    for _ in range(3):
        units.look_up(context, [{"name": "Each"}], full=True)
    assert _calls(crm, "query") == 1 and units.find({"name": "Each"}).target_id is None


def test_an_exact_link_wins_over_the_match_keys(
    fresh: tuple[RunningEmulator, RunningEmulator], context: SyncContext
) -> None:
    # A Salesforce contact links to one ERP contact and shares its e-mail with another: the link couples it.
    made = context.erp.upsert_batch("contact", "externalId", [
        {"externalId": "LK-LINKED", "lastName": "Linked", "email": "linked@lookup.example"},
        {"externalId": "LK-EMAIL", "lastName": "Other", "email": "shared@lookup.example"},
    ])
    [linked, _] = [r.id for r in made]
    [sf_contact] = context.crm.upsert_batch("Contact", "ERP_Id__c", [
        {"ERP_Id__c": "LK-LINKED", "LastName": "Linked", "Email": "shared@lookup.example"}
    ])
    result = EntityPass(context, Route.of(context.mappings.entities["contact"], Direction.TO_ERP)).run_ids(
        [str(sf_contact.id)]
    )
    assert result.counts.coupled == 1 and result.coupled_keys == {(sf_contact.id, linked)}
