"""Custom records (setupCustom:CustomRecord) as NetSuite serves them: recType chooses the custom record type, values
travel in customFieldList by scriptId, CustomRecordRef reads and deletes them, CustomRecordSearchBasic finds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.erp_emulator.soap import ErpClient, errors

CONTRACT_TYPE = "101"


def _contract(erp: ErpClient, tag: str, key: str, *, rec_type: str = CONTRACT_TYPE, **custom: Any) -> Any:
    t = erp.type
    fields = [t("SelectCustomFieldRef")(scriptId="custrecord_contract_customer",
                                        value=t("ListOrRecordRef")(externalId=f"{tag}-cust"))]
    for script_id, (ref_type, value) in custom.items():
        fields.append(t(ref_type)(scriptId=script_id, value=value))
    return t("CustomRecord")(externalId=f"{tag}-{key}", name=f"CTR-{key}", recType=t("RecordRef")(internalId=rec_type),
                             customFieldList=t("CustomFieldList")(customField=fields))


def _customer(erp: ErpClient, tag: str) -> None:
    result = erp.call("upsertList", record=[erp.type("Customer")(externalId=f"{tag}-cust", companyName="Contracted")])
    assert result.writeResponse[0].status.isSuccess


def _values(record: Any) -> dict[str, Any]:
    return {f.scriptId: f.value for f in record.customFieldList.customField}


def test_a_contract_round_trips_through_upsert_update_get_and_delete(erp: ErpClient, tag: str) -> None:
    _customer(erp, tag)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    added = erp.call("upsert", record=_contract(
        erp, tag, "a", custrecord_contract_value=("DoubleCustomFieldRef", 6000.0),
        custrecord_contract_start=("DateCustomFieldRef", start),
        custrecord_contract_status=("SelectCustomFieldRef", erp.type("ListOrRecordRef")(internalId="2"))))
    ref = added.baseRef
    assert added.status.isSuccess
    assert type(ref).__name__ == "CustomRecordRef" and ref.typeId == CONTRACT_TYPE
    assert ref.scriptId == "customrecord_contract"

    t = erp.type
    update = t("CustomRecord")(internalId=ref.internalId, recType=t("RecordRef")(internalId=CONTRACT_TYPE),
                               customFieldList=t("CustomFieldList")(customField=[
                                   t("DoubleCustomFieldRef")(scriptId="custrecord_contract_value", value=7500.5)]))
    assert erp.call("update", record=update).status.isSuccess

    read = erp.call("get", baseRef=t("CustomRecordRef")(internalId=ref.internalId, typeId=CONTRACT_TYPE))
    record = read.record
    values = _values(record)
    assert record.name == "CTR-a" and record.recType.internalId == CONTRACT_TYPE
    assert values["custrecord_contract_value"] == 7500.5  # updated; the other fields kept
    assert values["custrecord_contract_start"] == start
    assert values["custrecord_contract_status"].name == "Active"
    assert values["custrecord_contract_customer"].externalId == f"{tag}-cust"
    assert values["custrecord_contract_customer"].name == "Contracted"

    deleted = erp.call("delete", baseRef=t("CustomRecordRef")(externalId=f"{tag}-a", scriptId="customrecord_contract"))
    assert deleted.status.isSuccess
    again = erp.call("getList", baseRef=[t("CustomRecordRef")(internalId=ref.internalId, typeId=CONTRACT_TYPE)])
    assert errors(again.readResponse[0]) == ["RCRD_DSNT_EXIST"]
    window = {"deletedDate": {"operator": "within", "searchValue": datetime.now(UTC) - timedelta(hours=1),
                              "searchValue2": datetime.now(UTC) + timedelta(hours=1)},
              "type": {"operator": "anyOf", "searchValue": ["customRecord"]},
              "scriptId": {"operator": "is", "searchValue": "customrecord_contract"}}
    gone = erp.call("getDeleted", getDeletedFilter=window, pageIndex=1)
    mine = [d.record for d in gone.deletedRecordList.deletedRecord if d.record.internalId == ref.internalId]
    assert len(mine) == 1 and mine[0].scriptId == "customrecord_contract"


def test_the_search_finds_one_custom_record_type_by_rectype(erp: ErpClient, tag: str) -> None:
    _customer(erp, tag)
    erp.call("addList", record=[_contract(erp, tag, str(i)) for i in range(3)])
    t = erp.type
    pairing = t("CustomRecord")(externalId=f"{tag}-pair", name="pairing", recType=t("RecordRef")(internalId="102"),
                                customFieldList=t("CustomFieldList")(customField=[
                                    t("StringCustomFieldRef")(scriptId="custrecord_tandem_crm_org_id", value="00D1")]))
    assert erp.call("add", record=pairing).status.isSuccess
    basic = t("CustomRecordSearchBasic")(recType=t("RecordRef")(internalId=CONTRACT_TYPE),
                                         externalIdString={"operator": "startsWith", "searchValue": tag})
    found = erp.call("search", searchRecord=basic)
    assert found.totalRecords == 3
    assert {r.externalId for r in found.recordList.record} == {f"{tag}-{i}" for i in range(3)}
    wrapped = t("CustomRecordSearch")(basic=t("CustomRecordSearchBasic")(
        recType=t("RecordRef")(internalId="102"), name={"operator": "is", "searchValue": "pairing"},
        externalIdString={"operator": "startsWith", "searchValue": tag}))
    pairings = erp.call("search", searchRecord=wrapped)
    assert [r.externalId for r in pairings.recordList.record] == [f"{tag}-pair"]


def test_an_unknown_custom_record_type_or_field_fails_that_record(erp: ErpClient, tag: str) -> None:
    _customer(erp, tag)
    t = erp.type
    wrong_field = _contract(erp, tag, "f", custrecord_nope=("StringCustomFieldRef", "x"))
    wrong_kind = _contract(erp, tag, "k", custrecord_contract_value=("StringCustomFieldRef", "lots"))
    missing = t("CustomRecord")(externalId=f"{tag}-m", name="no customer", recType=t("RecordRef")(internalId="101"))
    result = erp.call("upsertList", record=[_contract(erp, tag, "u", rec_type="999"), wrong_field, wrong_kind,
                                            missing, _contract(erp, tag, "ok")])
    assert [errors(r) for r in result.writeResponse] == [
        ["INVALID_CSTM_RCRD_TYPE_KEY"], ["INVALID_CSTM_FIELD_REF"], ["INVALID_CSTM_FIELD_DATA_TYP"], ["USER_ERROR"], []]
    search = erp.call("search", searchRecord=t("CustomRecordSearchBasic")(recType=t("RecordRef")(internalId="999")))
    assert errors(search) == ["INVALID_CSTM_RCRD_TYPE_KEY"]
    read = erp.call("get", baseRef=t("CustomRecordRef")(internalId="1", typeId="999"))
    assert errors(read) == ["INVALID_CSTM_RCRD_TYPE_KEY"]


def test_get_of_a_customization_ref_describes_the_custom_record_type(erp: ErpClient) -> None:
    t = erp.type
    read = erp.call("get", baseRef=t("CustomizationRef")(scriptId="customrecord_contract", type="customRecordType"))
    record_type = read.record
    fields = {f.scriptId: f for f in record_type.customFieldList.customField}
    assert type(record_type).__name__ == "CustomRecordType" and record_type.internalId == CONTRACT_TYPE
    assert fields["custrecord_contract_value"].fieldType == "_currency"
    assert fields["custrecord_contract_customer"].selectRecordType.type == "customer"
    assert fields["custrecord_contract_customer"].isMandatory is True
