"""Record ids and the schema file, without a server."""

from __future__ import annotations

import pytest

from emulators.salesforce.ids import checksum_suffix, make_id, normalize_id
from emulators.salesforce.schema import SchemaError, load_schema, parse_schema


def test_checksum_matches_salesforces_algorithm() -> None:
    # Examples from Salesforce's documentation and knowledge articles.
    assert checksum_suffix("001D000000Kv3dl") == "IAB"
    assert checksum_suffix("001A0000006Vm9r") == "IAC"
    assert checksum_suffix("000000000000000") == "AAA"


def test_ids_have_prefix_and_suffix_and_accept_both_lengths() -> None:
    record_id = make_id("00T", 12345)
    assert len(record_id) == 18 and record_id.startswith("00T")
    assert normalize_id(record_id[:15]) == record_id
    assert normalize_id(record_id) == record_id
    assert normalize_id(record_id[:15] + "ZZZ") is None
    assert normalize_id("short") is None
    assert normalize_id("001-000000000000") is None
    assert make_id("001", 1) < make_id("001", 2) < make_id("001", 62)


def test_schema_has_the_objects_tandem_needs() -> None:
    schema = load_schema()
    prefixes = {name: obj.key_prefix for name, obj in schema.objects.items()}
    assert prefixes["Account"] == "001" and prefixes["Contact"] == "003" and prefixes["Task"] == "00T"
    assert prefixes["User"] == "005" and prefixes["Product2"] == "01t" and prefixes["Pricebook2"] == "01s"
    assert prefixes["PricebookEntry"] == "01u" and prefixes["Organization"] == "00D"
    assert prefixes["Opportunity"] == "006" and prefixes["Order"] == "801"
    for name, obj in schema.objects.items():
        # The org's setup objects, and Tandem's own pairing record (it links no ERP record).
        if name not in ("Organization", "PermissionSet", "PermissionSetAssignment", "Tandem_Pairing__c"):
            erp_id = obj.field("ERP_Id__c")
            assert erp_id is not None and erp_id.external_id and erp_id.unique, name
    assert schema.objects["Organization"].createable is False
    assert schema.object_for_id(make_id("a01", 1)) is schema.objects["ERP_Invoice__c"]


def test_schema_errors_name_the_problem() -> None:
    with pytest.raises(SchemaError, match=r"X\.F: a picklist_in derivation needs"):
        parse_schema({"objects": {"X": {"keyPrefix": "a99", "fields": {
            "F": {"type": "boolean", "derived": {"rule": "picklist_in"}}}}}})
    with pytest.raises(SchemaError, match="derived needs a rule"):
        parse_schema({"objects": {"X": {"keyPrefix": "a99", "fields": {"F": {"type": "boolean", "derived": 1}}}}})
