"""Salesforce's limits and wire details, over HTTPS: the URI and header size limit (414 / 431), long
text areas in SOQL, 10 query cursors per user, the recycle bin's purge for queryAll, canonical
header names, gzip, API versions from 31.0, and describe's ``compoundFieldName``, every field key,
``Last-Modified`` and 304."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from typing import Any

import pytest
import requests

from tests.salesforce_adapter.conftest import emulator_now
from tests.salesforce_emulator.conftest import rest_headers
from tests.support.emulator import RunningEmulator

LIMIT = 16_384
DESCRIBE_FIELD_KEYS = {
    "aggregatable", "aiPredictionField", "autoNumber", "byteLength", "calculated", "calculatedFormula",
    "cascadeDelete", "caseSensitive", "compoundFieldName", "controllerName", "createable", "custom",
    "defaultValue", "defaultValueFormula", "defaultedOnCreate", "dependentPicklist", "deprecatedAndHidden",
    "digits", "displayLocationInDecimal", "encrypted", "externalId", "extraTypeInfo", "filterable",
    "filteredLookupInfo", "formulaTreatNullNumberAsZero", "groupable", "highScaleNumber", "htmlFormatted",
    "idLookup", "inlineHelpText", "label", "length", "mask", "maskType", "name", "nameField", "namePointing",
    "nillable", "permissionable", "picklistValues", "polymorphicForeignKey", "precision", "queryByDistance",
    "referenceTargetField", "referenceTo", "relationshipName", "relationshipOrder", "restrictedDelete",
    "restrictedPicklist", "scale", "searchPrefilterable", "soapType", "sortable", "type", "unique", "updateable",
    "writeRequiresMasterRead",
}


def counters(emulator: RunningEmulator) -> dict[str, int]:
    """The emulator's call counters by endpoint."""
    return dict(emulator.control("GET", "counters")["by_endpoint"])


def query(http: requests.Session, api: str, sf: Any, soql: str, **headers: str) -> requests.Response:
    """``GET query?q=soql`` with ``sf``'s session."""
    return http.get(f"{api}/query", params={"q": soql}, headers={**rest_headers(sf), **headers}, timeout=30)


def only_error(response: requests.Response) -> dict[str, Any]:
    """The single error of a REST error answer."""
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    return dict(body[0])


def create_accounts(http: requests.Session, api: str, sf: Any, count: int, prefix: str = "A") -> list[str]:
    """Create ``count`` accounts through sObject Collections; return their ids."""
    ids: list[str] = []
    for start in range(0, count, 200):
        records = [{"attributes": {"type": "Account"}, "Name": f"{prefix}{n:05d}", "ERP_Id__c": f"{prefix}{n:05d}"}
                   for n in range(start, min(count, start + 200))]
        answer = http.post(f"{api}/composite/sobjects", json={"allOrNone": True, "records": records},
                           headers=rest_headers(sf), timeout=30).json()
        ids.extend(r["id"] for r in answer)
    return ids


# -- the URI and header size limit --------------------------------------------------------------------------


def test_a_uri_over_16384_bytes_answers_414(sf: Any, http: requests.Session, api: str,
                                            sf_emulator: RunningEmulator) -> None:
    soql = "SELECT Id FROM Account WHERE Name IN ('" + "x" * LIMIT + "')"
    response = query(http, api, sf, soql)
    assert response.status_code == 414
    assert response.text == "URI Too Long"
    assert counters(sf_emulator).get("uri.tooLong") == 1


def test_uri_and_headers_over_16384_bytes_answer_431(sf: Any, http: requests.Session, api: str,
                                                     sf_emulator: RunningEmulator) -> None:
    soql = "SELECT Id FROM Account WHERE Name IN ('" + "x" * 14_000 + "')"
    assert query(http, api, sf, soql).status_code == 200  # the URI alone fits
    response = query(http, api, sf, soql, **{"X-Padding": "y" * 3_000})
    assert response.status_code == 431
    assert response.text == "Request Header Fields Too Large"
    assert counters(sf_emulator).get("headers.tooLarge") == 1


def test_three_hundred_long_keys_in_one_get_are_refused(sf: Any, http: requests.Session, api: str) -> None:
    """What Tandem used to send: 300 keys of 80 characters in one GET query."""
    keys = ", ".join(f"'{n:080d}'" for n in range(300))
    assert query(http, api, sf, f"SELECT Id FROM Account WHERE ERP_Id__c IN ({keys})").status_code == 414


# -- long text areas ---------------------------------------------------------------------------------------


def test_filtering_on_a_long_text_area_is_invalid_field(sf: Any, http: requests.Session, api: str) -> None:
    response = query(http, api, sf, "SELECT Id FROM Account WHERE Description = 'x'")
    assert response.status_code == 400
    error = only_error(response)
    assert error["errorCode"] == "INVALID_FIELD"
    assert error["message"].endswith(
        "ERROR at Row:1:Column:30\nfield 'Description' can not be filtered in a query call")
    parent = query(http, api, sf, "SELECT Id FROM Contact WHERE Account.Description LIKE '%x%'")
    assert only_error(parent)["errorCode"] == "INVALID_FIELD"
    assert only_error(parent)["message"].endswith("field 'Description' can not be filtered in a query call")


def test_sorting_on_a_long_text_area_is_refused(sf: Any, http: requests.Session, api: str) -> None:
    response = query(http, api, sf, "SELECT Id FROM Task ORDER BY Description")
    assert response.status_code == 400
    error = only_error(response)
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert error["message"].endswith("field 'Description' can not be sorted in a query call")


def test_a_short_text_area_filters_and_sorts_and_describe_says_which(sf: Any, http: requests.Session,
                                                                     api: str) -> None:
    soql = "SELECT Id, Description FROM Account WHERE BillingStreet != null ORDER BY BillingStreet"
    assert query(http, api, sf, soql).status_code == 200
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert (fields["Description"]["filterable"], fields["Description"]["sortable"]) == (False, False)
    assert fields["Description"]["groupable"] is False
    assert (fields["BillingStreet"]["filterable"], fields["BillingStreet"]["sortable"]) == (True, True)
    assert fields["Description"]["extraTypeInfo"] == "plaintextarea"


# -- query cursors -------------------------------------------------------------------------------------------


def test_an_eleventh_cursor_closes_the_users_oldest(sf: Any, http: requests.Session, api: str) -> None:
    create_accounts(http, api, sf, 250)
    pages = [query(http, api, sf, f"SELECT Id FROM Account WHERE Name != 'n{n}'",
                   **{"Sforce-Query-Options": "batchSize=200"}).json() for n in range(11)]
    assert all(not page["done"] for page in pages)
    base = api.rsplit("/services", 1)[0]
    oldest = http.get(base + pages[0]["nextRecordsUrl"], headers=rest_headers(sf), timeout=30)
    assert oldest.status_code == 400
    assert only_error(oldest) == {"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}
    for page in pages[1:]:
        more = http.get(base + page["nextRecordsUrl"], headers=rest_headers(sf), timeout=30)
        assert more.status_code == 200 and len(more.json()["records"]) == 50


# -- the recycle bin and queryAll -----------------------------------------------------------------------------


def test_query_all_leaves_out_what_the_recycle_bin_purged(sf: Any, http: requests.Session, api: str,
                                                          sf_emulator: RunningEmulator) -> None:
    old, recent, emptied, live = create_accounts(http, api, sf, 4, prefix="Bin")
    sf.Account.delete(old)
    sf_emulator.control("POST", "clock", json={"advance_seconds": 10 * 86_400})
    sf.Account.delete(recent)
    sf.Account.delete(emptied)
    sf_emulator.control("POST", "clock", json={"advance_seconds": 6 * 86_400})
    purged = sf_emulator.control("POST", "recycle-bin", json={"ids": [emptied]})
    assert purged == {"purged": 1}

    found = {r["Id"]: r["IsDeleted"] for r in sf.query_all("SELECT Id, IsDeleted FROM Account",
                                                            include_deleted=True)["records"]}
    assert found.get(live) is False and found.get(recent) is True
    assert old not in found  # deleted 16 days ago: purged by age
    assert emptied not in found  # emptied from the recycle bin
    count = sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Bin%'", include_deleted=True)
    assert count["totalSize"] == 2

    now = emulator_now(sf_emulator)
    deleted = sf.Account.deleted(now - timedelta(days=8), now)
    assert {r["id"] for r in deleted["deletedRecords"]} == {recent, emptied}  # the delete log keeps both


# -- wire details ---------------------------------------------------------------------------------------------


def test_response_header_names_are_canonical_on_the_wire(sf: Any, http: requests.Session, api: str) -> None:
    response = http.get(f"{api}/limits", headers=rest_headers(sf), timeout=30)
    names = list(response.raw.headers.keys())
    assert "Content-Type" in names and "Sforce-Limit-Info" in names
    assert all(name[0].isupper() for name in names)
    unauthorized = http.get(f"{api}/limits", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert "WWW-Authenticate" in list(unauthorized.raw.headers.keys())


def test_gzip_responses_when_asked_and_gzip_request_bodies(sf: Any, http: requests.Session, api: str) -> None:
    asked = http.get(f"{api}/sobjects/Account/describe", headers={**rest_headers(sf), "Accept-Encoding": "gzip"},
                     timeout=30, stream=True)
    assert asked.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(asked.raw.read()))["name"] == "Account"
    plain = http.get(f"{api}/sobjects/Account/describe",
                     headers={**rest_headers(sf), "Accept-Encoding": "identity"}, timeout=30)
    assert "Content-Encoding" not in plain.headers and plain.json()["name"] == "Account"
    body = gzip.compress(json.dumps({"Name": "Compressed"}).encode())
    created = http.post(f"{api}/sobjects/Account", data=body, timeout=30,
                        headers={**rest_headers(sf), "Content-Encoding": "gzip"})
    assert created.status_code == 201
    assert sf.Account.get(created.json()["id"])["Name"] == "Compressed"


def test_api_versions_from_31(sf: Any, http: requests.Session, api: str) -> None:
    base = api.rsplit("/services", 1)[0]
    listed = http.get(f"{base}/services/data/", timeout=30).json()
    assert listed[0] == {"label": "Summer '14", "url": "/services/data/v31.0", "version": "31.0"}
    assert {"label": "Summer '20", "url": "/services/data/v49.0", "version": "49.0"} in listed
    headers = rest_headers(sf)
    assert http.get(f"{base}/services/data/v31.0/sobjects", headers=headers, timeout=30).status_code == 200
    old_query = http.get(f"{base}/services/data/v31.0/query", params={"q": "SELECT Id FROM Account"},
                         headers=headers, timeout=30)
    assert old_query.status_code == 200
    assert http.get(f"{base}/services/data/v30.0/sobjects", headers=headers, timeout=30).status_code == 404
    # sObject Collections came with 42.0: older versions do not have them.
    before = http.get(f"{base}/services/data/v41.0/composite/sobjects/Account", params={"ids": "", "fields": "Id"},
                      headers=headers, timeout=30)
    assert before.status_code == 404
    assert only_error(before)["errorCode"] == "NOT_FOUND"


def test_describe_has_every_field_key_and_compound_names(sf: Any) -> None:
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert all(set(f) == DESCRIBE_FIELD_KEYS for f in fields.values())
    assert fields["BillingStreet"]["compoundFieldName"] == "BillingAddress"
    assert fields["ShippingCity"]["compoundFieldName"] == "ShippingAddress"
    assert fields["Name"]["compoundFieldName"] is None
    contact = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert contact["FirstName"]["compoundFieldName"] == "Name"
    assert contact["Email"]["compoundFieldName"] is None


@pytest.mark.parametrize("path", ["sobjects/Account/describe", "sobjects"])
def test_describe_answers_304_when_not_modified(sf: Any, http: requests.Session, api: str, path: str) -> None:
    first = http.get(f"{api}/{path}", headers=rest_headers(sf), timeout=30)
    modified = first.headers["Last-Modified"]
    assert modified.endswith(" GMT")
    same = http.get(f"{api}/{path}", headers={**rest_headers(sf), "If-Modified-Since": modified}, timeout=30)
    assert same.status_code == 304 and same.content == b""
    older = "Mon, 01 Jan 2001 00:00:00 GMT"
    again = http.get(f"{api}/{path}", headers={**rest_headers(sf), "If-Modified-Since": older}, timeout=30)
    assert again.status_code == 200 and again.json()
