"""NetSuite's search model on the emulator: transaction and item families with their type filter, the
``<Type>Search``/``basic`` form, date operators and predefined values, searchNext/searchMore, getAll, and the
operations it declares but does not implement."""

from __future__ import annotations

from pathlib import Path

import pytest
import zeep

from tests.erp_emulator.soap import ErpClient, fault_code
from tests.support.emulator import running_emulator


def _ids(result: object) -> list[str]:
    records = result.recordList.record if result.recordList is not None else []  # type: ignore[attr-defined]
    return [r.externalId for r in records]


def _orders(erp: ErpClient, tag: str) -> None:
    t, ref = erp.type, erp.ref
    erp.call("upsertList", record=[t("Customer")(externalId=f"{tag}-c", companyName=f"{tag} Co")])
    erp.call(
        "upsertList",
        record=[
            t("SalesOrder")(externalId=f"{tag}-so", entity=ref("customer", externalId=f"{tag}-c"), tranId=f"{tag}-SO1"),
            t("Invoice")(externalId=f"{tag}-in", entity=ref("customer", externalId=f"{tag}-c"), tranId=f"{tag}-IN1"),
        ],
    )


def test_transaction_search_filters_by_type(erp: ErpClient, tag: str) -> None:
    _orders(erp, tag)
    entity = erp.type("SearchMultiSelectField")(
        operator="anyOf", searchValue=[erp.ref("customer", externalId=f"{tag}-c")]
    )
    for types, expected in [
        (["_salesOrder"], [f"{tag}-so"]),
        (["_invoice"], [f"{tag}-in"]),
        (["_salesOrder", "_invoice"], [f"{tag}-so", f"{tag}-in"]),
    ]:
        kind = erp.type("SearchEnumMultiSelectField")(operator="anyOf", searchValue=types)
        result = erp.call("search", searchRecord=erp.type("TransactionSearchBasic")(type=kind, entity=entity))
        assert sorted(_ids(result)) == sorted(expected)


def test_wrapped_search_with_basic_and_string_criteria(erp: ErpClient, tag: str) -> None:
    _orders(erp, tag)
    basic = erp.type("CustomerSearchBasic")(
        companyName=erp.type("SearchStringField")(operator="startsWith", searchValue=f"{tag} ")
    )
    result = erp.call("search", searchRecord=erp.type("CustomerSearch")(basic=basic))
    assert _ids(result) == [f"{tag}-c"]
    tran = erp.type("TransactionSearchBasic")(
        tranId=erp.type("SearchStringField")(operator="is", searchValue=f"{tag}-IN1")
    )
    assert _ids(erp.call("search", searchRecord=erp.type("TransactionSearch")(basic=tran))) == [f"{tag}-in"]


def test_item_search_type_and_subtype(erp: ErpClient, tag: str) -> None:
    t = erp.type
    erp.call(
        "upsertList",
        record=[
            t("InventoryItem")(externalId=f"{tag}-i", itemId=f"{tag}-I"),
            t("ServiceSaleItem")(externalId=f"{tag}-s", itemId=f"{tag}-S"),
        ],
    )
    name = t("SearchStringField")(operator="startsWith", searchValue=tag)
    for kind, expected in [("_inventoryItem", [f"{tag}-i"]), ("_service", [f"{tag}-s"])]:
        search = t("ItemSearchBasic")(
            itemId=name, type=t("SearchEnumMultiSelectField")(operator="anyOf", searchValue=[kind])
        )
        assert _ids(erp.call("search", searchRecord=search)) == expected
    sale = t("ItemSearchBasic")(
        itemId=name,
        type=t("SearchEnumMultiSelectField")(operator="anyOf", searchValue=["_service"]),
        subType=t("SearchEnumMultiSelectField")(operator="anyOf", searchValue=["_forSale"]),
    )
    assert _ids(erp.call("search", searchRecord=sale)) == [f"{tag}-s"]


def test_date_operators_and_predefined_values(erp: ErpClient, tag: str) -> None:
    _orders(erp, tag)
    t = erp.type
    entity = t("SearchMultiSelectField")(operator="anyOf", searchValue=[erp.ref("customer", externalId=f"{tag}-c")])

    def found(**date: object) -> int:
        search = t("TransactionSearchBasic")(entity=entity, lastModifiedDate=t("SearchDateField")(**date))
        return len(_ids(erp.call("search", searchRecord=search)))

    assert found(operator="within", predefinedSearchValue="today") == 2
    assert found(operator="notWithin", predefinedSearchValue="today") == 0
    assert found(operator="within", predefinedSearchValue="yesterday") == 0
    assert found(operator="notEmpty") == 2 and found(operator="empty") == 0
    with pytest.raises(zeep.exceptions.Fault):
        found(operator="within", predefinedSearchValue="lastFiscalQuarter")


def test_search_next_and_search_more_page_on(erp: ErpClient, tag: str) -> None:
    t = erp.type
    erp.call("upsertList", record=[t("Customer")(externalId=f"{tag}-{i}", companyName=f"{tag} {i}") for i in range(12)])
    basic = t("CustomerSearchBasic")(companyName=t("SearchStringField")(operator="startsWith", searchValue=tag))
    first = erp.call("search", searchRecord=basic, page_size=5)
    second = erp.call("searchNext")
    third = erp.call("searchMore", pageIndex=3)
    assert (first.totalPages, second.pageIndex, third.pageIndex) == (3, 2, 3)
    assert len(set(_ids(first)) | set(_ids(second)) | set(_ids(third))) == 12


def test_get_all_currencies_and_single_record_operations(erp: ErpClient, tag: str) -> None:
    t = erp.type
    added = erp.call("add", record=t("Currency")(externalId=f"{tag}-cur", name="Krone", symbol=tag[:3].upper()))
    assert added.status.isSuccess
    result = erp.call("getAll", record=t("GetAllRecord")(recordType="currency"))
    assert f"{tag}-cur" in [r.externalId for r in result.recordList.record]
    assert erp.call("getAll", record=t("GetAllRecord")(recordType="state")).totalRecords == 0
    with pytest.raises(zeep.exceptions.Fault):  # not a GetAllRecordType: a schema fault, as NetSuite
        erp.call("getAll", record=t("GetAllRecord")(recordType="customer"))
    updated = erp.call("update", record=t("Currency")(internalId=added.baseRef.internalId, name="Danish Krone"))
    assert updated.status.isSuccess
    got = erp.call("get", baseRef=erp.ref("currency", internalId=added.baseRef.internalId))
    assert got.record.name == "Danish Krone" and got.record.externalId == f"{tag}-cur"
    assert erp.last_header.documentInfo.nsId.startswith("WEBSERVICES_")
    assert erp.call("getServerTime").serverTime is not None
    assert erp.call("delete", baseRef=erp.ref("currency", externalId=f"{tag}-cur")).status.isSuccess


def test_null_field_list_clears_fields_and_absent_fields_stay(erp: ErpClient, tag: str) -> None:
    t = erp.type
    erp.call("upsert", record=t("Customer")(externalId=f"{tag}-n", companyName="N", phone="1", url="http://x"))
    erp.call("upsert", record=t("Customer")(externalId=f"{tag}-n", nullFieldList=t("NullField")(name=["phone"])))
    record = erp.call("get", baseRef=erp.ref("customer", externalId=f"{tag}-n")).record
    assert record.phone is None and record.url == "http://x" and record.companyName == "N"


def test_unimplemented_operations_fault_clearly(erp: ErpClient) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call("getSavedSearch", record=erp.type("GetSavedSearchRecord")(searchType="customer"))
    assert fault_code(caught.value) == "WS_OPERATION_NOT_SUPPORTED" and "getSavedSearch" in caught.value.message


def test_unknown_element_and_other_version_fault(erp: ErpClient) -> None:
    unknown = erp.raw("<platformMsgs:getServerTime><platformMsgs:bogus/></platformMsgs:getServerTime>", "getServerTime")
    assert unknown.status_code == 500 and b"bogus" in unknown.content
    other = erp.raw(
        '<m:getServerTime xmlns:m="urn:messages_2022_1.platform.webservices.netsuite.com"/>', "getServerTime"
    )
    assert other.status_code == 500 and b"INVALID_VERSION" in other.content


def test_oversized_request_is_refused_before_parsing(tmp_path: Path) -> None:
    with running_emulator("erp", tmp_path, "--seed", "none", "--max-request-mb", "1") as emulator:
        client = ErpClient(emulator)
        padding = "x" * (1024 * 1024 + 10)
        response = client.raw(
            f"<platformMsgs:getServerTime><!-- {padding} --></platformMsgs:getServerTime>", "getServerTime"
        )
        assert response.status_code == 500
        assert b"exceededRequestSizeFault" in response.content and b"EXCEEDED_MAX_REQUEST_SIZE" in response.content
        assert client.call("getServerTime").serverTime is not None  # still serving
