"""The emulator's wire as HubSpot documents it: limits and their errors, rate limiting, search operators,
archived records, server-kept dates and associations, through plain HTTP."""

from __future__ import annotations

import secrets
from typing import Any

from tests.hubspot_emulator.conftest import Api
from tests.support.emulator import RunningEmulator

COMPANIES = "/crm/v3/objects/companies"
CONTACTS = "/crm/v3/objects/contacts"


def _search(api: Api, path: str, *filters: dict[str, object], **body: object) -> Any:
    response = api.post(f"{path}/search", json={"filterGroups": [{"filters": list(filters)}] if filters else [],
                                                "limit": 100, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_batch_of_101_inputs_is_refused_whole(api: Api) -> None:
    inputs = [{"properties": {"name": f"Batch {i}"}} for i in range(101)]
    refused = api.post(f"{COMPANIES}/batch/create", json={"inputs": inputs})
    assert refused.status_code == 400
    body = refused.json()
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR" and body["correlationId"]
    assert body["context"] == {"limit": ["100"], "size": ["101"]}
    assert api.post(f"{COMPANIES}/batch/create", json={"inputs": inputs[:100]}).status_code == 201


def test_search_stops_at_ten_thousand_results(api: Api) -> None:
    assert api.post(f"{COMPANIES}/search", json={"limit": 200, "after": "9800"}).status_code == 200
    past = api.post(f"{COMPANIES}/search", json={"limit": 200, "after": "9801"})
    assert past.status_code == 400 and past.json()["category"] == "VALIDATION_ERROR"
    assert api.post(f"{COMPANIES}/search", json={"limit": 201}).status_code == 400


def test_the_interval_limit_answers_429_with_hubspots_headers(hubspot: RunningEmulator, api: Api) -> None:
    hubspot.control("POST", "rate-limits", json={"interval_max": 3, "reset": True})
    answers = [api.get(COMPANIES) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    assert answers[0].headers["X-HubSpot-RateLimit-Remaining"] == "2"
    assert answers[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert answers[0].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "649999"
    refused = answers[3]
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0" and 1 <= int(refused.headers["Retry-After"]) <= 10
    assert refused.json()["errorType"] == "RATE_LIMIT" and refused.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    hubspot.control("POST", "clock", json={"advance_seconds": 10})
    assert api.get(COMPANIES).status_code == 200


def test_search_has_its_own_secondly_limit_without_headers(hubspot: RunningEmulator, api: Api) -> None:
    hubspot.control("POST", "rate-limits", json={"search_per_second": 2})
    answers = [api.post(f"{COMPANIES}/search", json={}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "X-HubSpot-RateLimit-Max" not in answers[0].headers
    assert answers[2].json()["policyName"] == "SECONDLY"


def test_an_injected_429_has_hubspots_body(hubspot: RunningEmulator, api: Api) -> None:
    hubspot.control("POST", "faults", json={"pattern": "objects.batch.upsert", "kind": "http_429", "count": 1})
    upsert = {"inputs": [{"idProperty": "erp_id", "id": "CUST-7", "properties": {"name": "Seven"}}]}
    first = api.post(f"{COMPANIES}/batch/upsert", json=upsert)
    assert first.status_code == 429 and first.json()["errorType"] == "RATE_LIMIT" and first.headers["Retry-After"]
    assert api.post(f"{COMPANIES}/batch/upsert", json=upsert).status_code == 200
    assert hubspot.control("GET", "counters")["by_endpoint"]["objects.batch.upsert"] == 2


def test_a_wrong_or_missing_token_is_401(hubspot: RunningEmulator) -> None:
    wrong = Api(hubspot, token=secrets.token_urlsafe(16))  # not the emulator's token
    missing = Api(hubspot)
    del missing.session.headers["Authorization"]
    for client in (wrong, missing):
        answer = client.get(COMPANIES)
        assert answer.status_code == 401 and answer.json()["category"] == "INVALID_AUTHENTICATION"
        assert answer.json()["status"] == "error" and answer.json()["correlationId"]


def test_an_injected_server_error_has_hubspots_shape(hubspot: RunningEmulator, api: Api) -> None:
    hubspot.control("POST", "faults", json={"pattern": "objects.search", "kind": "http_503", "count": 1})
    failed = api.post(f"{COMPANIES}/search", json={})
    assert failed.status_code == 503 and failed.json()["status"] == "error"
    assert api.post(f"{COMPANIES}/search", json={}).status_code == 200


def test_unknown_and_read_only_properties_are_refused(api: Api) -> None:
    unknown = api.post(COMPANIES, json={"properties": {"name": "X", "colour": "blue"}})
    assert unknown.status_code == 400 and "PROPERTY_DOESNT_EXIST" in unknown.json()["message"]
    read_only = api.request("PATCH", f"{COMPANIES}/1000001", json={"properties": {"hs_lastmodifieddate": "1"}})
    assert read_only.status_code == 400 and "READ_ONLY_VALUE" in read_only.json()["message"]
    assert api.get(f"{COMPANIES}/1000001?properties=colour").json()["properties"].keys() == {
        "hs_object_id", "createdate", "hs_lastmodifieddate"}


def test_unique_values_and_upsert_id_properties(api: Api) -> None:
    taken = api.get(f"{CONTACTS}/1000061").json()["properties"]["email"]
    duplicate = api.post(CONTACTS, json={"properties": {"email": taken.upper()}})
    assert duplicate.status_code == 409
    assert duplicate.json()["message"] == "Contact already exists. Existing ID: 1000061"
    not_unique = api.post(f"{COMPANIES}/batch/upsert",
                          json={"inputs": [{"idProperty": "name", "id": "X", "properties": {}}]})
    assert not_unique.status_code == 400
    by_email = api.post(f"{CONTACTS}/batch/upsert", json={"inputs": [
        {"idProperty": "email", "id": taken, "properties": {"jobtitle": "CEO"}}]}).json()["results"]
    assert [(r["id"], r["new"], r["properties"]["jobtitle"]) for r in by_email] == [("1000061", False, "CEO")]


def test_search_operators(api: Api) -> None:
    customers = _search(api, COMPANIES, {"propertyName": "lifecyclestage", "operator": "EQ", "value": "CUSTOMER"})
    assert customers["total"] == 40
    named = _search(api, COMPANIES, {"propertyName": "name", "operator": "IN",
                                     "values": ["evergreen farms corp.", "Aurora Studios Ltd."]}, properties=["name"])
    assert sorted(r["properties"]["name"] for r in named["results"]) == ["Aurora Studios Ltd.", "Evergreen Farms Corp."]
    not_customers = _search(api, COMPANIES, {"propertyName": "lifecyclestage", "operator": "NOT_IN",
                                             "values": ["customer"]})
    assert not_customers["total"] == 20
    token = _search(api, COMPANIES, {"propertyName": "name", "operator": "CONTAINS_TOKEN", "value": "aur*"})
    assert token["total"] == 4
    assert _search(api, CONTACTS, {"propertyName": "associatedcompanyid", "operator": "NOT_HAS_PROPERTY"})["total"] == 4
    assert _search(api, CONTACTS, {"propertyName": "associatedcompanyid", "operator": "HAS_PROPERTY"})["total"] == 123
    cheap = _search(api, "/crm/v3/objects/products", {"propertyName": "price", "operator": "BETWEEN", "value": "0",
                                                      "highValue": "100"}, properties=["price"])
    assert cheap["total"] > 0 and all(0 <= float(r["properties"]["price"]) <= 100 for r in cheap["results"])
    either = api.post(f"{COMPANIES}/search", json={"filterGroups": [
        {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": "1000001"}]},
        {"filters": [{"propertyName": "hs_object_id", "operator": "LTE", "value": "1000003"},
                     {"propertyName": "hs_object_id", "operator": "GT", "value": "1000002"}]}]}).json()
    assert [r["id"] for r in either["results"]] == ["1000001", "1000003"]
    newest = _search(api, COMPANIES, sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}],
                     properties=["hs_lastmodifieddate"], limit=5)
    stamps = [r["properties"]["hs_lastmodifieddate"] for r in newest["results"]]
    assert stamps == sorted(stamps, reverse=True) and newest["paging"]["next"]["after"] == "5"
    bad = api.post(f"{COMPANIES}/search", json={"filterGroups": [{"filters": [
        {"propertyName": "name", "operator": "LIKE", "value": "x"}]}]})
    assert bad.status_code == 400


def test_archived_records_are_listed_only_with_archived_true(api: Api) -> None:
    assert api.request("DELETE", f"{COMPANIES}/1000005").status_code == 204
    live = api.get(f"{COMPANIES}?limit=100").json()["results"]
    archived = api.get(f"{COMPANIES}?archived=true&limit=100").json()["results"]
    assert "1000005" not in {r["id"] for r in live} and len(live) == 59
    assert "1000005" in {r["id"] for r in archived} and len(archived) == 3
    assert all(r["archived"] and r["archivedAt"] for r in archived)
    assert _search(api, COMPANIES, {"propertyName": "hs_object_id", "operator": "EQ", "value": "1000005"})["total"] == 0


def test_list_pages_by_after_and_the_dates_follow_the_clock(hubspot: RunningEmulator, api: Api) -> None:
    first = api.get(f"{COMPANIES}?limit=50").json()
    second = api.get(f"{COMPANIES}?limit=50&after={first['paging']['next']['after']}").json()
    assert len(first["results"]) == 50 and len(second["results"]) == 10 and "paging" not in second
    hubspot.control("POST", "clock", json={"set": "2031-01-02T03:04:05Z"})
    made = api.post(CONTACTS, json={"properties": {"email": "clock@inbox.example"}}).json()
    assert made["createdAt"].startswith("2031-01-02T03:04")
    assert made["properties"]["lastmodifieddate"] == made["createdAt"]


def test_associations_batch_read_and_primary_company(api: Api) -> None:
    read = api.post("/crm/v4/associations/contacts/companies/batch/read", json={"inputs": [{"id": "1000061"},
                                                                                           {"id": "5"}]})
    assert read.status_code == 207
    body = read.json()
    types = {t["typeId"]: t["label"] for t in body["results"][0]["to"][0]["associationTypes"]}
    assert body["results"][0]["to"][0]["toObjectId"] == 1000001 and types == {1: "Primary", 279: None}
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert api.get(f"{CONTACTS}/1000061?properties=associatedcompanyid").json()["properties"][
        "associatedcompanyid"] == "1000001"
    task = api.post("/crm/v3/objects/tasks", json={
        "properties": {"hs_timestamp": 1_767_225_600_000, "hs_task_subject": "Call"},
        "associations": [{"to": {"id": "1000061"}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                              "associationTypeId": 204}]}]}).json()
    assert task["properties"]["hs_createdate"]
    linked = api.get(f"/crm/v4/objects/tasks/{task['id']}/associations/contacts").json()["results"]
    assert [r["toObjectId"] for r in linked] == [1000061]
    assert api.request("DELETE", f"/crm/v4/objects/tasks/{task['id']}/associations/contacts/1000061").status_code == 204
    assert api.get(f"/crm/v4/objects/tasks/{task['id']}/associations/contacts").json()["results"] == []


def test_a_new_primary_company_takes_the_label_and_labels_archive_keeps_the_link(api: Api) -> None:
    def companies_of_contact() -> dict[int, list[int]]:
        found = api.get("/crm/v4/objects/contacts/1000061/associations/companies").json()["results"]
        return {r["toObjectId"]: sorted(t["typeId"] for t in r["associationTypes"]) for r in found}

    base = "/crm/v4/associations/contacts/companies/batch"
    primary = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]
    made = api.post(f"{base}/create", json={"inputs": [
        {"from": {"id": "1000061"}, "to": {"id": "1000002"}, "types": primary}]})
    assert made.status_code == 201
    assert companies_of_contact() == {1000001: [279], 1000002: [1, 279]}
    contact = f"{CONTACTS}/1000061?properties=associatedcompanyid"
    assert api.get(contact).json()["properties"]["associatedcompanyid"] == "1000002"
    back = api.get("/crm/v4/objects/companies/1000001/associations/contacts").json()["results"]
    assert {t["typeId"] for r in back if r["toObjectId"] == 1000061 for t in r["associationTypes"]} == {280}
    assert api.post(f"{base}/labels/archive", json={"inputs": [
        {"from": {"id": "1000061"}, "to": {"id": "1000002"}, "types": primary}]}).status_code == 204
    assert companies_of_contact() == {1000001: [279], 1000002: [279]}
    assert api.get(contact).json()["properties"]["associatedcompanyid"] is None
