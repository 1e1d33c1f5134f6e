"""addList, upsertList, deleteList and getList: per-record errors inside HTTP 200, limits as whole-request faults."""

from __future__ import annotations

import pytest
import zeep

from tests.erp_emulator.soap import ErpClient, errors, fault_code, fault_name


def customers(erp: ErpClient, tag: str, n: int, **values: object) -> list[object]:
    Customer = erp.type("Customer")
    return [Customer(externalId=f"{tag}-{i}", companyName=f"{tag} Company {i}", **values) for i in range(n)]


def test_upsert_creates_then_updates_only_sent_fields(erp: ErpClient, tag: str) -> None:
    Customer = erp.type("Customer")
    created = erp.call("upsertList", record=[Customer(externalId=f"{tag}-1", companyName="Acme", phone="111",
                                                      creditLimit=5000.0, isInactive=False)])
    first = created.writeResponse[0]
    assert first.status.isSuccess and first.baseRef.externalId == f"{tag}-1" and first.baseRef.type == "customer"
    internal_id = first.baseRef.internalId
    updated = erp.call("upsertList", record=[Customer(externalId=f"{tag}-1", phone="222")])
    assert updated.writeResponse[0].baseRef.internalId == internal_id
    record = erp.call("getList", baseRef=[erp.ref("customer", internalId=internal_id)]).readResponse[0].record
    assert (record.companyName, record.phone, record.creditLimit, record.isInactive) == ("Acme", "222", 5000.0, False)
    assert record.externalId == f"{tag}-1" and record.internalId == internal_id
    assert record.dateCreated <= record.lastModifiedDate


def test_references_resolve_by_external_id_and_carry_names(erp: ErpClient, tag: str) -> None:
    Employee, Customer = erp.type("Employee"), erp.type("Customer")
    rep = erp.call("upsertList", record=[Employee(externalId=f"{tag}-rep", firstName="Ada", lastName="Byron",
                                                  entityId="Ada Byron", isSalesRep=True)]).writeResponse[0]
    result = erp.call("upsertList", record=[Customer(externalId=f"{tag}-c", companyName="Ref Co",
                                                     salesRep=erp.ref("employee", externalId=f"{tag}-rep"))])
    ref = result.writeResponse[0].baseRef
    record = erp.call("getList", baseRef=[erp.ref("customer", externalId=f"{tag}-c")]).readResponse[0].record
    assert record.internalId == ref.internalId
    assert record.salesRep.internalId == rep.baseRef.internalId and record.salesRep.name == "Ada Byron"


def test_mixed_batch_writes_good_records_and_reports_bad_ones(erp: ErpClient, tag: str) -> None:
    Customer, Task = erp.type("Customer"), erp.type("Task")
    batch = [
        Customer(externalId=f"{tag}-good1", companyName="Good One"),
        Customer(externalId=f"{tag}-noname"),
        Customer(externalId=f"{tag}-badref", companyName="Bad Ref",
                 salesRep=erp.ref("employee", externalId=f"{tag}-nobody")),
        Customer(companyName="No External Id"),
        Customer(externalId=f"{tag}-good2", companyName="Good Two"),
    ]
    result = erp.call("upsertList", record=batch)
    assert [r.status.isSuccess for r in result.writeResponse] == [True, False, False, False, True]
    assert [errors(r) for r in result.writeResponse[1:4]] == [["USER_ERROR"], ["INVALID_KEY_OR_REF"], ["USER_ERROR"]]
    detail = result.writeResponse[1].status.statusDetail[0]
    assert detail.type == "ERROR" and "companyName" in detail.message
    read = erp.call("getList", baseRef=[erp.ref("customer", externalId=f"{tag}-{k}") for k in
                                        ("good1", "noname", "badref", "good2")])
    assert [r.status.isSuccess for r in read.readResponse] == [True, False, False, True]
    assert errors(read.readResponse[1]) == ["RCRD_DSNT_EXIST"]
    task = erp.call("upsertList", record=[Task(externalId=f"{tag}-t", title="Call back")])
    assert task.writeResponse[0].status.isSuccess


def test_invalid_enum_value_faults_the_whole_request(erp: ErpClient, tag: str) -> None:
    body = (f'<platformMsgs:upsertList><platformMsgs:record xsi:type="actSched:Task" externalId="{tag}-bad">'
            "<actSched:title>Bad status</actSched:title><actSched:status>_whenever</actSched:status>"
            f'</platformMsgs:record><platformMsgs:record xsi:type="actSched:Task" externalId="{tag}-ok">'
            "<actSched:title>Good</actSched:title><actSched:status>_completed</actSched:status>"
            "<actSched:priority>_high</actSched:priority></platformMsgs:record></platformMsgs:upsertList>")
    response = erp.raw(body, "upsertList")
    assert response.status_code == 500 and b"_whenever" in response.content and b"not a legal value" in response.content
    read = erp.call("getList", baseRef=[erp.ref("task", externalId=f"{tag}-ok")]).readResponse[0]
    assert not read.status.isSuccess  # as NetSuite: a schema fault writes nothing, not even the valid record


def test_null_field_list_clears_fields(erp: ErpClient, tag: str) -> None:
    Customer, NullField = erp.type("Customer"), erp.type("NullField")
    erp.call("upsertList", record=[Customer(externalId=tag, companyName="Nulls", phone="1", email="a@b.example")])
    erp.call("upsertList", record=[Customer(externalId=tag, nullFieldList=NullField(name=["phone"]))])
    record = erp.call("getList", baseRef=[erp.ref("customer", externalId=tag)]).readResponse[0].record
    assert record.phone is None and record.email == "a@b.example"


def test_add_list_reports_duplicates(erp: ErpClient, tag: str) -> None:
    first = erp.call("addList", record=customers(erp, tag, 2))
    assert all(r.status.isSuccess for r in first.writeResponse)
    again = erp.call("addList", record=customers(erp, tag, 3))
    assert [errors(r) for r in again.writeResponse] == [["DUP_RCRD"], ["DUP_RCRD"], []]


def test_delete_list(erp: ErpClient, tag: str) -> None:
    created = erp.call("upsertList", record=customers(erp, tag, 2)).writeResponse
    result = erp.call("deleteList", baseRef=[
        erp.ref("customer", internalId=created[0].baseRef.internalId),
        erp.ref("customer", externalId=f"{tag}-1"),
        erp.ref("customer", externalId=f"{tag}-missing"),
    ])
    assert [r.status.isSuccess for r in result.writeResponse] == [True, True, False]
    assert errors(result.writeResponse[2]) == ["RCRD_DSNT_EXIST"]
    read = erp.call("getList", baseRef=[erp.ref("customer", externalId=f"{tag}-0")])
    assert errors(read.readResponse[0]) == ["RCRD_DSNT_EXIST"]


@pytest.mark.parametrize(("operation", "limit"), [("upsertList", 100), ("addList", 200), ("asyncUpsertList", 200)])
def test_write_limits(erp: ErpClient, tag: str, operation: str, limit: int) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call(operation, record=customers(erp, tag, limit + 1))
    assert fault_code(caught.value) == "MAX_RCRDS_EXCEEDED"
    assert fault_name(caught.value) == "exceededRecordCountFault"
    read = erp.call("getList", baseRef=[erp.ref("customer", externalId=f"{tag}-0")])
    assert errors(read.readResponse[0]) == ["RCRD_DSNT_EXIST"]


def test_exactly_at_the_limit_is_accepted(erp: ErpClient, tag: str) -> None:
    result = erp.call("upsertList", record=customers(erp, tag, 100))
    assert len(result.writeResponse) == 100 and all(r.status.isSuccess for r in result.writeResponse)


@pytest.mark.parametrize(("operation", "limit"), [("deleteList", 200), ("getList", 1000)])
def test_reference_limits(erp: ErpClient, operation: str, limit: int) -> None:
    refs = [erp.ref("customer", internalId=str(i)) for i in range(1, limit + 2)]
    with pytest.raises(zeep.exceptions.Fault) as caught:
        erp.call(operation, baseRef=refs)
    assert fault_code(caught.value) == "MAX_RCRDS_EXCEEDED"


def test_every_record_type_round_trips(erp: ErpClient, tag: str) -> None:
    t = erp.type
    ref = erp.ref
    batches = [
        [t("Currency")(externalId=f"{tag}-cur", name="Swiss Franc", symbol="CHF", exchangeRate=1.1)],
        [t("Term")(externalId=f"{tag}-term", name="Net 45", daysUntilNetDue=45)],
        [t("Location")(externalId=f"{tag}-loc", name="Depot")],
        [t("UnitsType")(externalId=f"{tag}-ut", name="Each", baseUnitName="Each")],
        [t("PriceLevel")(externalId=f"{tag}-pl", name="Gold", discountpct=-15.0)],
        [t("Employee")(externalId=f"{tag}-emp", lastName="Rep", isSalesRep=True)],
        [t("InventoryItem")(externalId=f"{tag}-inv", itemId=f"{tag}-SKU",
                            unitsType=ref("unitsType", externalId=f"{tag}-ut")),
         t("ServiceSaleItem")(externalId=f"{tag}-srv", itemId=f"{tag}-SRV", pricingMatrix=t("PricingMatrix")(
             pricing=[t("Pricing")(currency=ref("currency", externalId=f"{tag}-cur"),
                                   priceLevel=ref("priceLevel", externalId=f"{tag}-pl"),
                                   priceList=t("PriceList")(price=[t("Price")(value=9.5, quantity=0)]))]))],
        [t("Customer")(externalId=f"{tag}-cust", companyName="Round Trip",
                       currency=ref("currency", externalId=f"{tag}-cur"), terms=ref("term", externalId=f"{tag}-term"),
                       priceLevel=ref("priceLevel", externalId=f"{tag}-pl"))],
        [t("Contact")(externalId=f"{tag}-con", lastName="Person", company=ref("customer", externalId=f"{tag}-cust"))],
        [t("SalesOrder")(externalId=f"{tag}-so", entity=ref("customer", externalId=f"{tag}-cust"),
                         orderStatus="_pendingBilling", location=ref("location", externalId=f"{tag}-loc"), total=10.0)],
        [t("Invoice")(externalId=f"{tag}-inv1", entity=ref("customer", externalId=f"{tag}-cust"),
                      createdFrom=ref("salesOrder", externalId=f"{tag}-so"))],
        [t("CustomRecord")(externalId=f"{tag}-ctr", name="CTR-1", recType=t("RecordRef")(internalId="101"),
                           customFieldList=t("CustomFieldList")(customField=[t("SelectCustomFieldRef")(
                               scriptId="custrecord_contract_customer",
                               value=t("ListOrRecordRef")(externalId=f"{tag}-cust"))]))],
        [t("Task")(externalId=f"{tag}-task", title="Remind", status="_notStarted", priority="_medium",
                   company=ref("customer", externalId=f"{tag}-cust"), assigned=ref("employee", externalId=f"{tag}-emp"),
                   message="Details")],
    ]
    for batch in batches:
        result = erp.call("upsertList", record=batch)
        assert all(r.status.isSuccess for r in result.writeResponse), result
    types = {"cur": "currency", "term": "term", "loc": "location", "ut": "unitsType", "pl": "priceLevel",
             "emp": "employee", "inv": "inventoryItem", "srv": "serviceSaleItem",
             "cust": "customer", "con": "contact", "so": "salesOrder", "inv1": "invoice",
             "task": "task"}
    contract = t("CustomRecordRef")(externalId=f"{tag}-ctr", scriptId="customrecord_contract")
    read = erp.call("getList", baseRef=[ref(v, externalId=f"{tag}-{k}") for k, v in types.items()] + [contract])
    assert all(r.status.isSuccess for r in read.readResponse)
    by_type = {type(r.record).__name__: r.record for r in read.readResponse}
    assert set(by_type) == {"Currency", "Term", "Location", "UnitsType", "PriceLevel", "Employee", "InventoryItem",
                            "ServiceSaleItem", "Customer", "Contact", "SalesOrder", "Invoice", "CustomRecord", "Task"}
    pricing = by_type["ServiceSaleItem"].pricingMatrix.pricing[0]
    assert pricing.currency.externalId == f"{tag}-cur" and pricing.priceList.price[0].value == 9.5
    assert by_type["Invoice"].createdFrom.internalId == by_type["SalesOrder"].internalId
    assert by_type["Task"].message == "Details" and by_type["Task"].assigned.type == "employee"
    for name, record in by_type.items():
        assert record.internalId and record.externalId.startswith(tag)
        if name == "CustomRecord":  # a custom record's system dates are created/lastModified, as in NetSuite
            assert record.created is not None and record.lastModified is not None
            assert record.customFieldList.customField[0].value.externalId == f"{tag}-cust"
        elif name != "Currency":  # a getAll list record: no system dates, as in NetSuite
            assert record.dateCreated is not None and record.lastModifiedDate is not None


def test_reference_of_the_wrong_type_is_refused(erp: ErpClient, tag: str) -> None:
    erp.call("upsertList", record=customers(erp, tag, 1))
    Task = erp.type("Task")
    result = erp.call("upsertList", record=[Task(externalId=f"{tag}-t", title="x",
                                                 assigned=erp.ref("customer", externalId=f"{tag}-0"))])
    assert errors(result.writeResponse[0]) == ["INVALID_KEY_OR_REF"]
