"""Single-record REST: describe, create, read, update, delete, external ids, upsert and their errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from emulators.salesforce.ids import checksum_suffix
from tests.salesforce_emulator.conftest import error_body, rest_headers
from tests.support.emulator import RunningEmulator

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


def error_of(failure: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    content = error_body(failure)
    assert isinstance(content, list) and len(content) == 1
    return content[0]


def test_versions_and_resources(sf: Any, http: requests.Session, api: str) -> None:
    base = api.rsplit("/services", 1)[0]
    listed = http.get(f"{base}/services/data/", timeout=10).json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in listed
    assert listed[0]["version"] == "31.0"
    old = http.get(f"{base}/services/data/v30.0/sobjects", headers=rest_headers(sf), timeout=10)
    assert old.status_code == 404
    assert old.json() == [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    assert http.get(api, headers=rest_headers(sf), timeout=10).json()["query"] == "/services/data/v59.0/query"


def test_describe_reports_field_attributes(sf: Any) -> None:
    listed = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert listed["Account"]["keyPrefix"] == "001"
    assert listed["ERP_Invoice__c"]["custom"] is True
    assert listed["Organization"]["createable"] is False
    task = sf.Task.describe()
    fields = {f["name"]: f for f in task["fields"]}
    assert [v["value"] for v in fields["Status"]["picklistValues"]] == [
        "Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]
    assert fields["Status"]["restrictedPicklist"] is True
    assert fields["IsClosed"]["createable"] is False and fields["IsClosed"]["type"] == "boolean"
    assert fields["WhatId"]["referenceTo"] == ["Account", "Opportunity", "Order"]
    assert fields["WhoId"]["relationshipName"] == "Who"
    assert fields["ERP_Id__c"]["externalId"] is True and fields["ERP_Id__c"]["unique"] is True
    assert fields["Subject"]["length"] == 255
    account = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert account["AnnualRevenue"]["type"] == "currency"
    assert account["Name"]["nillable"] is False
    assert sf.Account.metadata()["objectDescribe"]["keyPrefix"] == "001"
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.Nothing__c.describe()
    assert error_of(failure)["errorCode"] == "NOT_FOUND"


def test_create_get_update_delete(sf: Any, sf_emulator: RunningEmulator) -> None:
    created = sf.Account.create({"Name": "Acme GmbH", "AnnualRevenue": 1200000, "ERP_Id__c": "C-1"})
    assert created["success"] is True and created["errors"] == []
    record_id = created["id"]
    assert record_id.startswith("001") and len(record_id) == 18
    assert record_id[15:] == checksum_suffix(record_id[:15])
    record = sf.Account.get(record_id)
    assert record["attributes"] == {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{record_id}"}
    assert record["Name"] == "Acme GmbH" and record["AnnualRevenue"] == 1200000
    assert record["IsDeleted"] is False
    assert STAMP.match(record["CreatedDate"]) and STAMP.match(record["SystemModstamp"])
    assert record["CreatedById"] == record["LastModifiedById"] == sf_emulator.info["user_id"]
    assert sf.Account.get(record_id[:15])["Id"] == record_id

    assert sf.Account.update(record_id, {"Name": "Acme AG"}) == 204
    updated = sf.Account.get(record_id)
    assert updated["Name"] == "Acme AG"
    assert updated["SystemModstamp"] > record["SystemModstamp"]
    assert updated["CreatedDate"] == record["CreatedDate"]

    assert sf.Account.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(record_id)
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.Account.delete(record_id)
    assert error_of(failure) == {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}


def test_get_with_fields_and_derived_values(sf: Any) -> None:
    contact = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace"})["id"]
    record = sf.Contact.get(contact, headers=None)
    assert record["Name"] == "Ada Lovelace"
    partial = sf.restful(f"sobjects/Contact/{contact}", params={"fields": "LastName,Name"})
    assert list(partial) == ["attributes", "LastName", "Name"]
    sf.Contact.update(contact, {"LastName": "King"})
    assert sf.Contact.get(contact)["Name"] == "Ada King"
    task = sf.Task.create({"Subject": "Call", "Status": "Completed"})["id"]
    assert sf.Task.get(task)["IsClosed"] is True
    assert sf.Task.get(task)["Priority"] == "Normal"
    sf.Task.update(task, {"Status": "Deferred"})
    assert sf.Task.get(task)["IsClosed"] is False


def test_external_id_get_and_upsert(sf: Any) -> None:
    assert sf.Account.upsert("ERP_Id__c/C-9", {"Name": "Globex"}) == 201
    first = sf.Account.get_by_custom_id("ERP_Id__c", "C-9")
    assert first["Name"] == "Globex"
    assert sf.Account.upsert("ERP_Id__c/C-9", {"Name": "Globex Corp."}) == 200
    again = sf.Account.get_by_custom_id("ERP_Id__c", "C-9")
    assert again["Id"] == first["Id"] and again["Name"] == "Globex Corp."
    raw = sf.Account.upsert("ERP_Id__c/C-10", {"Name": "Initech"}, raw_response=True)
    assert raw.status_code == 201 and raw.json()["created"] is True
    raw = sf.Account.upsert("ERP_Id__c/C-10", {"Name": "Initech"}, raw_response=True)
    assert raw.status_code == 200 and raw.json() == {"id": raw.json()["id"], "success": True, "errors": [],
                                                     "created": False}
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get_by_custom_id("ERP_Id__c", "nope")
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.Account.get_by_custom_id("Name", "Globex")
    assert "Provided external ID field does not exist" in error_of(failure)["message"]


def test_several_matches_answer_300(sf: Any) -> None:
    for name in ("A", "B"):
        sf.Contact.create({"LastName": name, "Legacy_Id__c": "L-1"})
    with pytest.raises(SalesforceMoreThanOneRecord) as failure:
        sf.Contact.get_by_custom_id("Legacy_Id__c", "L-1")
    assert len(error_body(failure)) == 2
    assert all(url.startswith("/services/data/v59.0/sobjects/Contact/003") for url in error_body(failure))
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Contact.upsert("Legacy_Id__c/L-1", {"LastName": "C"})


@pytest.mark.parametrize(
    ("obj", "data", "code", "fields"),
    [
        ("Contact", {"FirstName": "No Last"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
        ("Task", {"Status": "Done"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Status"]),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        ("Task", {"IsClosed": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsClosed"]),
        ("Contact", {"LastName": "X", "AccountId": "not-an-id"}, "MALFORMED_ID", ["AccountId"]),
        ("Contact", {"LastName": "X", "AccountId": "001000000000000AAA"}, "INVALID_CROSS_REFERENCE_KEY", []),
        ("Contact", {"LastName": "X", "Email": "nope"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        # Salesforce holds dates from 1700-01-01 to 4000-12-31 only.
        ("Task", {"Subject": "X", "ActivityDate": "0001-01-01"}, "FIELD_INTEGRITY_EXCEPTION", ["ActivityDate"]),
        ("Task", {"Subject": "X", "ActivityDate": "4001-01-01"}, "FIELD_INTEGRITY_EXCEPTION", ["ActivityDate"]),
    ],
)
def test_record_errors(sf: Any, obj: str, data: dict[str, Any], code: str, fields: list[str]) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        getattr(sf, obj).create(data)
    error = error_of(failure)
    assert error["errorCode"] == code
    assert error["fields"] == fields
    assert error["message"]


def test_request_errors(sf: Any, sf_emulator: RunningEmulator, http: requests.Session, api: str) -> None:
    headers = rest_headers(sf)
    unknown = http.post(f"{api}/sobjects/Account", data='{"Name": "A", "Bogus__c": 1}', headers=headers, timeout=10)
    assert unknown.status_code == 400
    assert unknown.json() == [{"message": "No such column 'Bogus__c' on sobject of type Account",
                               "errorCode": "INVALID_FIELD"}]
    garbage = http.post(f"{api}/sobjects/Account", data="{not json", headers=headers, timeout=10)
    assert garbage.status_code == 400 and garbage.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    wrong_type = http.post(f"{api}/sobjects/Account", data='{"Name": "A", "AnnualRevenue": "lots"}',
                           headers=headers, timeout=10)
    assert wrong_type.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert "Cannot deserialize instance of double from VALUE_STRING value lots" in wrong_type.json()[0]["message"]
    no_object = http.post(f"{api}/sobjects/Nope__c", data="{}", headers=headers, timeout=10)
    assert no_object.status_code == 404 and no_object.json()[0]["errorCode"] == "NOT_FOUND"
    bad_id = http.patch(f"{api}/sobjects/Account/12345", data="{}", headers=headers, timeout=10)
    assert bad_id.status_code == 400 and bad_id.json()[0]["errorCode"] == "MALFORMED_ID"
    missing = http.delete(f"{api}/sobjects/Account/0015g0000000zzzAAA", headers=headers, timeout=10)
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    organization = sf_emulator.info["org_id"]
    readonly = http.patch(f"{api}/sobjects/Organization/{organization}", data='{"Name": "x"}', headers=headers,
                          timeout=10)
    assert readonly.status_code == 400
    assert readonly.json()[0]["errorCode"] in {"INVALID_FIELD_FOR_INSERT_UPDATE", "INVALID_TYPE_FOR_OPERATION"}


def test_unique_external_ids_are_enforced(sf: Any) -> None:
    first = sf.Account.create({"Name": "A", "ERP_Id__c": "DUP-1"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Account.create({"Name": "B", "ERP_Id__c": "DUP-1"})
    error = error_of(failure)
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert error["message"] == f"duplicate value found: ERP_Id__c duplicates value on record with id: {first}"


def test_deleting_an_account_takes_its_contacts_and_activities(sf: Any) -> None:
    account = sf.Account.create({"Name": "Parent"})["id"]
    contact = sf.Contact.create({"LastName": "Child", "AccountId": account})["id"]
    task = sf.Task.create({"Subject": "Call", "WhoId": contact})["id"]
    other = sf.Contact.create({"LastName": "Unrelated"})["id"]
    sf.Account.delete(account)
    for obj, record_id in (("Contact", contact), ("Task", task)):
        with pytest.raises(SalesforceResourceNotFound):
            getattr(sf, obj).get(record_id)
    assert sf.Contact.get(other)["LastName"] == "Unrelated"


def test_external_ids_match_case_insensitively_among_live_records(sf: Any) -> None:
    first = sf.Account.create({"Name": "Case", "ERP_Id__c": "abc-1"})["id"]
    assert sf.Account.upsert("ERP_Id__c/ABC-1", {"Name": "Case 2"}) == 200
    assert sf.Account.get(first)["Name"] == "Case 2"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Account.create({"Name": "Dup", "ERP_Id__c": "ABC-1"})
    assert error_body(failure)[0]["errorCode"] == "DUPLICATE_VALUE"
    sf.Account.delete(first)
    again = sf.Account.create({"Name": "Reborn", "ERP_Id__c": "abc-1"})["id"]
    assert again != first
    assert sf.Account.get_by_custom_id("ERP_Id__c", "ABC-1")["Id"] == again
