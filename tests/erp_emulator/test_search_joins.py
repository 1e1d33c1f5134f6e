"""`<Type>Search` joins and custom-field criteria through zeep: a record matches when its basic criteria match and,
for each join, some related record matches the join's criteria; ``customFieldList`` criteria are evaluated against
custom records' fields by scriptId or internalId."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import zeep

from tests.erp_emulator.soap import ErpClient, errors, fault_code

CONTRACT_TYPE = "101"


def _ids(result: Any) -> list[str]:
    assert result.status.isSuccess, errors(result)
    records = result.recordList.record if result.recordList is not None else []
    return sorted(r.externalId for r in records)


def _ok(result: Any) -> None:
    assert all(w.status.isSuccess for w in result.writeResponse), [errors(w) for w in result.writeResponse]


def _world(erp: ErpClient, tag: str) -> None:
    """Two reps, two customers (A by rep 1, B by rep 2), a contact each, two items and orders, an invoice of A's
    order, and a task on B's contact."""
    t, ref = erp.type, erp.ref
    _ok(erp.call("upsertList", record=[
        t("Employee")(externalId=f"{tag}-e1", entityId=f"{tag} Rep One", lastName="One", email=f"one@{tag}.test"),
        t("Employee")(externalId=f"{tag}-e2", entityId=f"{tag} Rep Two", lastName="Two", email=f"two@{tag}.test"),
        t("Location")(externalId=f"{tag}-wh", name=f"{tag} Warehouse"),
    ]))
    _ok(erp.call("upsertList", record=[
        t("Customer")(externalId=f"{tag}-a", companyName=f"{tag} Alpha",
                      salesRep=ref("employee", externalId=f"{tag}-e1")),
        t("Customer")(externalId=f"{tag}-b", companyName=f"{tag} Beta",
                      salesRep=ref("employee", externalId=f"{tag}-e2")),
        t("InventoryItem")(externalId=f"{tag}-i", itemId=f"{tag}-WIDGET", locationsList=t("InventoryItemLocationsList")(
            locations=[t("InventoryItemLocations")(locationId=ref("location", externalId=f"{tag}-wh"),
                                                   quantityOnHand=5.0)])),
        t("ServiceSaleItem")(externalId=f"{tag}-s", itemId=f"{tag}-SETUP"),
    ]))
    line = t("SalesOrderItem")
    _ok(erp.call("upsertList", record=[
        t("Contact")(externalId=f"{tag}-ka", lastName="Ann", email=f"ann@{tag}.test",
                     company=ref("customer", externalId=f"{tag}-a")),
        t("Contact")(externalId=f"{tag}-kb", lastName="Bob", email=f"bob@{tag}.test",
                     company=ref("customer", externalId=f"{tag}-b")),
        t("SalesOrder")(externalId=f"{tag}-soa", entity=ref("customer", externalId=f"{tag}-a"), tranId=f"{tag}-SOA",
                        itemList=t("SalesOrderItemList")(item=[
                            line(item=ref("inventoryItem", externalId=f"{tag}-i"), quantity=1.0, rate="3")])),
        t("SalesOrder")(externalId=f"{tag}-sob", entity=ref("customer", externalId=f"{tag}-b"), tranId=f"{tag}-SOB",
                        location=ref("location", externalId=f"{tag}-wh"),
                        itemList=t("SalesOrderItemList")(item=[
                            line(item=ref("serviceSaleItem", externalId=f"{tag}-s"), quantity=1.0, rate="9")])),
    ]))
    _ok(erp.call("upsertList", record=[
        t("Invoice")(externalId=f"{tag}-ina", entity=ref("customer", externalId=f"{tag}-a"), tranId=f"{tag}-INA",
                     createdFrom=ref("salesOrder", externalId=f"{tag}-soa")),
        t("Task")(externalId=f"{tag}-tb", title=f"{tag} call Bob", contact=ref("contact", externalId=f"{tag}-kb"),
                  company=ref("customer", externalId=f"{tag}-b"), assigned=ref("employee", externalId=f"{tag}-e2")),
    ]))


def _text(erp: ErpClient, value: str, operator: str = "is") -> Any:
    return erp.type("SearchStringField")(operator=operator, searchValue=value)


def _search(erp: ErpClient, search_type: str, **parts: Any) -> Any:
    return erp.call("search", searchRecord=erp.type(search_type)(**parts))


def test_joins_across_customers_contacts_transactions_items_and_tasks(erp: ErpClient, tag: str) -> None:
    _world(erp, tag)
    t = erp.type
    mine = t("CustomerSearchBasic")(companyName=_text(erp, tag, "startsWith"))
    # customer ↔ contact, both ways
    by_contact = _search(erp, "CustomerSearch", basic=mine,
                         contactJoin=t("ContactSearchBasic")(email=_text(erp, f"bob@{tag}.test")))
    assert _ids(by_contact) == [f"{tag}-b"]
    ours = t("ContactSearchBasic")(email=_text(erp, f"@{tag}.test", "contains"))
    contacts = _search(erp, "ContactSearch", basic=ours,
                       customerJoin=t("CustomerSearchBasic")(companyName=_text(erp, f"{tag} Alpha")))
    assert _ids(contacts) == [f"{tag}-ka"]
    # customer → sales rep, customer ← transactions (filtered by the joined search's own type filter)
    assert _ids(_search(erp, "CustomerSearch", basic=mine,
                        salesRepJoin=t("EmployeeSearchBasic")(email=_text(erp, f"two@{tag}.test")))) == [f"{tag}-b"]
    invoices = t("TransactionSearchBasic")(
        type=t("SearchEnumMultiSelectField")(operator="anyOf", searchValue=["_invoice"]))
    assert _ids(_search(erp, "CustomerSearch", basic=mine, transactionJoin=invoices)) == [f"{tag}-a"]
    # transaction → customer, → item lines, → location, → created from
    everything = t("TransactionSearchBasic")(tranId=_text(erp, tag, "startsWith"))
    assert _ids(_search(erp, "TransactionSearch", basic=everything, customerJoin=t("CustomerSearchBasic")(
        companyName=_text(erp, "Alpha", "contains")))) == [f"{tag}-ina", f"{tag}-soa"]
    services = t("ItemSearchBasic")(type=t("SearchEnumMultiSelectField")(operator="anyOf", searchValue=["_service"]))
    assert _ids(_search(erp, "TransactionSearch", basic=everything, itemJoin=services)) == [f"{tag}-sob"]
    assert _ids(_search(erp, "TransactionSearch", basic=everything, itemJoin=t("ItemSearchBasic")(
        itemId=_text(erp, f"{tag}-WIDGET")))) == [f"{tag}-soa"]
    assert _ids(_search(erp, "TransactionSearch", basic=everything, locationJoin=t("LocationSearchBasic")(
        name=_text(erp, f"{tag} Warehouse")))) == [f"{tag}-sob"]
    assert _ids(_search(erp, "TransactionSearch", basic=everything, createdFromJoin=t("TransactionSearchBasic")(
        tranId=_text(erp, f"{tag}-SOA")))) == [f"{tag}-ina"]
    # two joins at once: both must hold (A's orders have no service line)
    assert _ids(_search(erp, "TransactionSearch", basic=everything, itemJoin=services,
                        customerJoin=t("CustomerSearchBasic")(companyName=_text(erp, f"{tag} Alpha")))) == []
    # item ← transaction lines, item → inventory locations
    items = t("ItemSearchBasic")(itemId=_text(erp, tag, "startsWith"))
    assert _ids(_search(erp, "ItemSearch", basic=items, transactionJoin=t("TransactionSearchBasic")(
        tranId=_text(erp, f"{tag}-SOB")))) == [f"{tag}-s"]
    assert _ids(_search(erp, "ItemSearch", basic=items, inventoryLocationJoin=t("LocationSearchBasic")(
        name=_text(erp, "Warehouse", "contains")))) == [f"{tag}-i"]
    # task → contact, → customer, → assignee; an empty join does not narrow
    tasks = t("TaskSearchBasic")(title=_text(erp, tag, "startsWith"))
    assert _ids(_search(erp, "TaskSearch", basic=tasks, contactJoin=t("ContactSearchBasic")(
        lastName=_text(erp, "Bob")))) == [f"{tag}-tb"]
    assert _ids(_search(erp, "TaskSearch", basic=tasks, companyCustomerJoin=t("CustomerSearchBasic")(
        companyName=_text(erp, f"{tag} Alpha")))) == []
    assert _ids(_search(erp, "CustomerSearch", basic=mine, taskJoin=t("TaskSearchBasic")())) == [f"{tag}-a", f"{tag}-b"]


def test_a_join_the_account_holds_no_data_for_faults_naming_it(erp: ErpClient) -> None:
    t = erp.type
    with pytest.raises(zeep.exceptions.Fault) as raised:
        _search(erp, "CustomerSearch", fileJoin=t("FileSearchBasic")())
    assert fault_code(raised.value) == "WS_INVALID_SEARCH_OPERATN"
    assert "CustomerSearch.fileJoin" in raised.value.message and "contactJoin" in raised.value.message
    wrong_field = erp.raw(  # a join's criteria are checked like a basic search's
        '<platformMsgs:search><platformMsgs:searchRecord xsi:type="listRel:CustomerSearch">'
        '<listRel:contactJoin><platformCommon:companyName operator="is"><platformCore:searchValue>x'
        "</platformCore:searchValue></platformCommon:companyName></listRel:contactJoin>"
        "</platformMsgs:searchRecord></platformMsgs:search>", "search")
    assert wrong_field.status_code == 500
    assert b"ContactSearchBasic has no search field 'companyName'" in wrong_field.content


def _contract(erp: ErpClient, tag: str, key: str, value: float, status: str, start: datetime, memo: str) -> Any:
    t = erp.type
    return t("CustomRecord")(
        externalId=f"{tag}-{key}", name=f"{tag}-{key}", recType=t("RecordRef")(internalId=CONTRACT_TYPE),
        customFieldList=t("CustomFieldList")(customField=[
            t("SelectCustomFieldRef")(scriptId="custrecord_contract_customer",
                                      value=t("ListOrRecordRef")(externalId=f"{tag}-a")),
            t("DoubleCustomFieldRef")(scriptId="custrecord_contract_value", value=value),
            t("SelectCustomFieldRef")(scriptId="custrecord_contract_status",
                                      value=t("ListOrRecordRef")(internalId=status)),
            t("DateCustomFieldRef")(scriptId="custrecord_contract_start", value=start),
            t("StringCustomFieldRef")(scriptId="custrecord_contract_memo", value=memo),
        ]))


def _contracts(erp: ErpClient, tag: str, *custom: Any) -> Any:
    t = erp.type
    basic = t("CustomRecordSearchBasic")(recType=t("RecordRef")(internalId=CONTRACT_TYPE),
                                         name=_text(erp, tag, "startsWith"),
                                         customFieldList=t("SearchCustomFieldList")(customField=list(custom)))
    return erp.call("search", searchRecord=basic)


def test_custom_field_criteria_on_custom_records(erp: ErpClient, tag: str) -> None:
    t = erp.type
    _ok(erp.call("upsertList", record=[t("Customer")(externalId=f"{tag}-a", companyName=f"{tag} Alpha")]))
    _ok(erp.call("upsertList", record=[
        _contract(erp, tag, "small", 500.0, "1", datetime(2026, 1, 10, tzinfo=UTC), "renewal due"),
        _contract(erp, tag, "big", 9000.0, "2", datetime(2026, 6, 1, tzinfo=UTC), "flagship"),
    ]))
    small, big = f"{tag}-small", f"{tag}-big"
    double, long_ = t("SearchDoubleCustomField"), t("SearchLongCustomField")
    assert _ids(_contracts(erp, tag, double(scriptId="custrecord_contract_value", operator="greaterThan",
                                            searchValue=1000.0))) == [big]
    assert _ids(_contracts(erp, tag, long_(internalId="1007", operator="between", searchValue=100,
                                           searchValue2=600))) == [small]  # by internalId; Long on a currency field
    assert _ids(_contracts(erp, tag, t("SearchStringCustomField")(scriptId="custrecord_contract_memo",
                                                                  operator="contains", searchValue="renew"))) == [small]
    active = t("SearchMultiSelectCustomField")(scriptId="custrecord_contract_status", operator="anyOf",
                                               searchValue=[t("ListOrRecordRef")(internalId="2")])
    assert _ids(_contracts(erp, tag, active)) == [big]
    not_active = t("SearchMultiSelectCustomField")(scriptId="custrecord_contract_status", operator="noneOf",
                                                   searchValue=[t("ListOrRecordRef")(internalId="2")])
    assert _ids(_contracts(erp, tag, not_active)) == [small]
    customer = t("SearchMultiSelectCustomField")(scriptId="custrecord_contract_customer", operator="anyOf",
                                                 searchValue=[t("ListOrRecordRef")(externalId=f"{tag}-a")])
    started = t("SearchDateCustomField")(scriptId="custrecord_contract_start", operator="onOrAfter",
                                         searchValue=datetime(2026, 3, 1, tzinfo=UTC))
    assert _ids(_contracts(erp, tag, customer)) == [big, small]
    assert _ids(_contracts(erp, tag, customer, started)) == [big]  # every criterion must hold
    assert _ids(_contracts(erp, tag, t("SearchDateCustomField")(scriptId="custrecord_contract_start",
                                                                operator="empty"))) == []


def test_custom_field_criteria_that_do_not_fit_answer_netsuites_codes(erp: ErpClient, tag: str) -> None:
    t = erp.type
    unknown = _contracts(erp, tag, t("SearchStringCustomField")(scriptId="custrecord_nothing", operator="is",
                                                                 searchValue="x"))
    assert not unknown.status.isSuccess and errors(unknown) == ["INVALID_CSTM_FIELD_REF"]
    wrong_type = _contracts(erp, tag, t("SearchBooleanCustomField")(scriptId="custrecord_contract_value",
                                                                    searchValue=True))
    assert errors(wrong_type) == ["INVALID_CSTM_FIELD_DATA_TYP"]
    # the account's standard records hold no custom fields
    on_customers = erp.call("search", searchRecord=t("CustomerSearchBasic")(customFieldList=t("SearchCustomFieldList")(
        customField=[t("SearchStringCustomField")(scriptId="custentity_segment", operator="is", searchValue="x")])))
    assert errors(on_customers) == ["INVALID_CSTM_FIELD_REF"]
