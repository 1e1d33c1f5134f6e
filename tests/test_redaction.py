"""Record values never stay in stored error messages; codes, field names and ids do."""

from __future__ import annotations

from tandem.redaction import redact


def test_values_of_the_record_are_replaced_longest_first() -> None:
    record = {"Email": "bob@example.com", "LastName": "Bob", "Phone": "555"}
    message = "Email: invalid email address: bob@example.com"
    assert redact(message, record) == "Email: invalid email address: [value]"


def test_cut_values_are_caught_and_ids_can_stay() -> None:
    long = "A" * 300
    record = {"Name": long, "ERP_Id__c": "CUST-0001"}
    message = f"Name: data value too large: {long[:255]}... (max length=255) for CUST-0001"
    redacted = redact(message, record, keep=["CUST-0001"])
    assert "AAAA" not in redacted and "CUST-0001" in redacted and "max length=255" in redacted


def test_short_values_and_booleans_are_left_alone() -> None:
    assert redact("Status: bad value for restricted picklist field: X", {"Status": "X", "IsActive": True}) == (
        "Status: bad value for restricted picklist field: X"
    )
