"""prefect.yaml agrees with the flows (no server needed): every flow deployed, parameters valid, forms typed."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import ValidationError, validate

from tandem.deploy import PROJECT_ROOT, set_project_directory
from tandem.mapping import MAPPINGS_DIR, load_mapping_set
from tests.support.prefect_server import ROOT

SHIPPED = yaml.safe_load((ROOT / "prefect.yaml").read_text())
#: What the run form's block selector sends for the connection.
BLOCK_REF = {"$ref": {"block_document_id": "6f489547-77d5-4f26-ac04-c0913c296de2"}}
#: The other required fields of the flows about one entity.
ONE_ENTITY_EXTRAS: dict[str, dict[str, Any]] = {
    "resolve-conflicts": {"keep": "erp"},
    "couple-records": {"pairs": [{"crm_id": "001000000000001AAA", "erp_id": "7"}]},
    "sync-partition": {"part": {
        "connection_id": 1, "entity": "customer", "direction": "to_erp", "index": 1, "count": 2, "high": "500",
        "started_at": "2026-12-06T06:00:00Z", "holder": "6f489547-77d5-4f26-ac04-c0913c296de3", "host": "worker-1",
    }},
}
DEPLOYMENTS: list[dict[str, Any]] = SHIPPED["deployments"]


def flows_in_package() -> dict[str, Flow[Any, Any]]:
    """Every flow defined in a module of ``flows/``, by its entrypoint (``flows/x.py:name``)."""
    found: dict[str, Flow[Any, Any]] = {}
    for path in sorted((ROOT / "flows").glob("*.py")):
        module = importlib.import_module(f"flows.{path.stem}")
        for name, value in vars(module).items():
            if isinstance(value, Flow) and value.fn.__module__ == module.__name__:
                found[f"flows/{path.stem}.py:{name}"] = value
    return found


def test_every_flow_has_a_deployment_and_every_deployment_a_flow() -> None:
    assert {d["entrypoint"] for d in DEPLOYMENTS} == set(flows_in_package())


def test_deployments_go_to_the_tandem_process_pool_without_build_or_push() -> None:
    assert SHIPPED["build"] is None and SHIPPED["push"] is None
    assert SHIPPED["pull"] == [{"tandem.deploy.set_project_directory": {}}]
    names = [(load_flow_from_entrypoint(d["entrypoint"]).name, d["name"]) for d in DEPLOYMENTS]
    assert len(set(names)) == len(names), names
    for deployment in DEPLOYMENTS:
        assert deployment["work_pool"]["name"] == "tandem"
        assert deployment["enforce_parameter_schema"] is True
        assert deployment["description"].strip()


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["entrypoint"] for d in DEPLOYMENTS])
def test_each_deployments_parameters_fit_its_flows_run_form(deployment: dict[str, Any]) -> None:
    flow: Flow[Any, Any] = load_flow_from_entrypoint(deployment["entrypoint"])
    schema = parameter_schema(flow).model_dump_for_openapi()
    # The values prefect.yaml fixes must pass the same check the server applies to a run's parameters.
    validate(deployment.get("parameters") or {}, schema, raise_on_error=True, ignore_required=True)
    properties = schema["properties"]
    assert all(spec.get("description") for spec in properties.values()), properties
    # The run form: word titles, plain-sentence descriptions, the connection a selector of saved blocks.
    assert all(spec["title"][0].isupper() and "_" not in spec["title"] for spec in properties.values()), properties
    assert not any("``" in spec["description"] or ":class:" in spec["description"] for spec in properties.values())
    assert properties["connection"] == {**properties["connection"], "$ref": "#/definitions/SyncConnection"}
    assert schema["definitions"]["SyncConnection"]["block_type_slug"] == "tandem-sync-connection"
    assert "connection" in schema["required"] and "connection" not in (deployment.get("parameters") or {})
    if "entities" not in properties and "entity" not in properties:  # the whole connection (sandbox-refresh)
        assert properties["dry_run"]["type"] == "boolean" and properties["confirm_org_id"]["type"] == "string"
        validate({"connection": BLOCK_REF, "confirm_org_id": "00D5g0000000002AAA"}, schema, raise_on_error=True)
        return
    assert schema["definitions"]["EntityName"]["enum"] == list(load_mapping_set(MAPPINGS_DIR / "default.yaml").entities)
    if "entities" not in properties:  # a flow about one entity (resolve-conflicts, retry-records)
        validate({"connection": BLOCK_REF, "entity": "customer", **ONE_ENTITY_EXTRAS.get(deployment["name"], {})},
                 schema, raise_on_error=True)
        return
    validate({"connection": BLOCK_REF, "entities": ["currency", "payment_term"]}, schema, raise_on_error=True)
    with pytest.raises(ValidationError, match="no_such_entity"):
        validate({"connection": BLOCK_REF, "entities": ["currency", "no_such_entity"]}, schema, raise_on_error=True)
    assert properties["dry_run"]["type"] == "boolean" and properties["dry_run"]["default"] is False
    entities = next(choice for choice in properties["entities"]["anyOf"] if choice.get("type") == "array")
    assert entities["items"] == {"$ref": "#/definitions/EntityName"}


def _deployment(name: str) -> dict[str, Any]:
    return next(d for d in DEPLOYMENTS if d["name"] == name)


def test_deployment_names_say_what_they_do() -> None:
    assert [d["name"] for d in DEPLOYMENTS] == [
        "full-sync", "sync-partition", "initial-import", "incremental-erp-to-crm", "incremental-crm-to-erp",
        "incremental-two-way", "deletion-sweep-daily", "resolve-conflicts", "sandbox-refresh", "retry-records",
        "couple-records", "item-availability",
    ]


def test_schedules_ship_paused_and_are_switched_on_per_connection() -> None:
    names = ("incremental-erp-to-crm", "incremental-crm-to-erp", "incremental-two-way")
    pair = {name: _deployment(name) for name in names}
    # `prefect deploy --all` on the file starts nothing: every schedule is paused there ...
    assert [(d["parameters"], d["schedules"]) for d in pair.values()] == [
        ({"direction": "to_crm"}, [{"interval": 300, "active": False}]),
        ({"direction": "to_erp"}, [{"interval": 1800, "active": False}]),
        ({"direction": "both"}, [{"interval": 300, "active": False}]),
    ]
    # ... and `tandem deploy --connection NAME` switches these on (the two-way run is the pair's alternative).
    assert [d["tandem"]["schedules_active"] for d in pair.values()] == [True, True, False]
    sweep = _deployment("deletion-sweep-daily")
    assert sweep["schedules"] == [{"cron": "0 2 * * *", "timezone": "UTC", "active": False}]
    assert sweep["tandem"] == {"schedules_active": True}
    for deployment in [*pair.values(), sweep]:
        # a scheduled run that finds the last one still going is cancelled, never queued up behind it
        assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    stock = _deployment("item-availability")  # the availability entities every minute, for those who want it
    assert (stock["parameters"], stock["schedules"]) == (
        {"direction": "to_crm", "entities": ["item_stock", "item_availability"]}, [{"interval": 60, "active": False}])
    assert stock["tandem"] == {"schedules_active": False}
    assert stock["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    on_demand = [d for d in DEPLOYMENTS if d not in [*pair.values(), sweep, stock]]
    assert on_demand and all(d["schedules"] == [] and "tandem" not in d for d in on_demand)


def test_the_pull_step_moves_a_run_from_its_temporary_directory_into_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where Prefect's process worker starts a flow run
    result = set_project_directory()
    assert result == {"directory": str(ROOT)} and PROJECT_ROOT == ROOT
    assert Path(os.getcwd()) == ROOT
    for deployment in DEPLOYMENTS:
        assert Path(deployment["entrypoint"].split(":")[0]).is_file()
