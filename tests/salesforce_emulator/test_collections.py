"""sObject Collections and composite."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from tests.salesforce_emulator.conftest import error_body, rest_headers


def accounts(n: int, prefix: str = "ACC") -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Account"}, "Name": f"Account {i}", "ERP_Id__c": f"{prefix}-{i}"}
            for i in range(n)]


def test_create_update_retrieve_delete(sf: Any) -> None:
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        *accounts(2), {"attributes": {"type": "Contact"}, "LastName": "Mixed"}]})
    assert [r["success"] for r in created] == [True, True, True]
    assert created[2]["id"].startswith("003")
    ids = [r["id"] for r in created[:2]]
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Account"}, "Id": ids[0], "Name": "Renamed"},
        {"attributes": {"type": "Account"}, "Id": ids[1], "Name": "x" * 300}]})
    assert updated[0] == {"id": ids[0], "success": True, "errors": []}
    assert updated[1]["id"] is None and updated[1]["success"] is False
    assert updated[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert set(updated[1]["errors"][0]) == {"statusCode", "message", "fields"}
    fetched = sf.restful("composite/sobjects/Account", params={"ids": f"{ids[0]},{ids[1]},0015g0000000zzzAAA",
                                                                "fields": "Id,Name"})
    assert fetched[0]["Name"] == "Renamed" and fetched[1]["Name"] == "Account 1" and fetched[2] is None
    posted = sf.restful("composite/sobjects/Account", method="POST", json={"ids": ids, "fields": ["Name"]})
    assert [r["Name"] for r in posted] == ["Renamed", "Account 1"]
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{ids[0]},bad"})
    assert deleted[0] == {"id": ids[0], "success": True, "errors": []}
    assert deleted[1]["errors"][0]["statusCode"] == "MALFORMED_ID"
    again = sf.restful("composite/sobjects", method="DELETE", params={"ids": ids[0]})
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_upsert_by_external_id(sf: Any) -> None:
    first = sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH",
                       json={"allOrNone": False, "records": accounts(3)})
    assert all(r["created"] and r["success"] for r in first)
    records = accounts(4)
    records[0]["Name"] = "Changed"
    records[3]["Type"] = "Not a type"
    second = sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH",
                        json={"allOrNone": False, "records": records})
    assert [r["created"] for r in second[:3]] == [False, False, False]
    assert second[0]["id"] == first[0]["id"]
    assert second[3]["success"] is True and second[3]["created"] is True
    third = sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH", json={"records": [
        {"attributes": {"type": "Account"}, "Name": "Bad", "ERP_Id__c": "ACC-9", "CurrencyIsoCode": "XXX"}]})
    assert third[0]["success"] is False
    assert third[0]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.Account.get_by_custom_id("ERP_Id__c", "ACC-0")["Name"] == "Changed"


def test_all_or_none_rolls_back(sf: Any) -> None:
    records = accounts(3)
    del records[1]["Name"]
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert [r["success"] for r in results] == [False, False, False]
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[0]["errors"][0]["message"] == (
        "Record rolled back because not all records were valid and the request was using AllOrNone header")
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get_by_custom_id("ERP_Id__c", "ACC-0")
    upserted = sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH",
                          json={"allOrNone": True, "records": records})
    assert [r["success"] for r in upserted] == [False, False, False]


def test_collection_limits_and_request_errors(sf: Any, http: requests.Session, api: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH", json={"records": accounts(201)})
    assert error_body(failure)[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects", method="POST", json={"records": accounts(201)})
    assert error_body(failure)[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects", method="POST", json={"records": [{"Name": "no type"}]})
    assert error_body(failure)[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects", method="POST",
                   json={"records": [{"attributes": {"type": "Nope__c"}, "Name": "x"}]})
    assert error_body(failure)[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH",
                   json={"records": [{"attributes": {"type": "Account"}, "Name": "x", "Nope__c": 1, "ERP_Id__c": "1"}]})
    assert error_body(failure)[0]["errorCode"] == "INVALID_FIELD"
    response = http.patch(f"{api}/composite/sobjects/Account/ERP_Id__c", data="[1,", headers=rest_headers(sf),
                          timeout=10)
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_duplicate_keys_in_one_upsert(sf: Any) -> None:
    records = accounts(2)
    records[1]["ERP_Id__c"] = records[0]["ERP_Id__c"]
    results = sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH", json={"records": records})
    assert [r["errors"][0]["statusCode"] for r in results] == ["DUPLICATE_EXTERNAL_ID", "DUPLICATE_EXTERNAL_ID"]


def test_composite_with_references(sf: Any) -> None:
    body = {"allOrNone": False, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "acct",
         "body": {"Name": "Composite Co"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "cont",
         "body": {"LastName": "Ref", "AccountId": "@{acct.id}"}},
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Contact/@{cont.id}?fields=AccountId",
         "referenceId": "read"},
    ]}
    answer = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [a["httpStatusCode"] for a in answer] == [201, 201, 200]
    assert answer[2]["body"]["AccountId"] == answer[0]["body"]["id"]
    assert answer[0]["httpHeaders"]["Location"].endswith(answer[0]["body"]["id"])


def test_composite_all_or_none_and_limit(sf: Any) -> None:
    body = {"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "ok",
         "body": {"Name": "Rolled back", "ERP_Id__c": "RB-1"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "bad", "body": {}},
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Account/@{ok.id}", "referenceId": "never"},
    ]}
    answer = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert answer[1]["httpStatusCode"] == 400
    assert answer[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert answer[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert answer[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get_by_custom_id("ERP_Id__c", "RB-1")
    too_many = {"compositeRequest": [
        {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{i}"} for i in range(26)]}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json=too_many)
    missing_ref = {"compositeRequest": [
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Account/@{nothing.id}", "referenceId": "x"}]}
    answer = sf.restful("composite", method="POST", json=missing_ref)["compositeResponse"]
    assert answer[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert "Invalid reference specified" in answer[0]["body"][0]["message"]
