"""The SQLite layout and value encoding shared by the store and the SOQL engine."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from emulators.salesforce import storage_format as fmt
from emulators.salesforce.schema import FieldDef, ObjectDef, load_schema

SCHEMA = load_schema()


def sobject(name: str) -> ObjectDef:
    found = SCHEMA.object(name)
    assert found is not None
    return found


ACCOUNT = sobject("Account")


def field(obj_name: str, name: str) -> FieldDef:
    found = sobject(obj_name).field(name)
    assert found is not None
    return found


@pytest.fixture
def conn() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    for obj in SCHEMA.objects.values():
        for statement in fmt.create_table_statements(obj):
            connection.execute(statement)
    return connection


def test_names_are_the_api_names_and_quote_safely() -> None:
    assert fmt.table_name(ACCOUNT) == "Account"
    assert fmt.table_name("ERP_Invoice__c") == "ERP_Invoice__c"
    assert fmt.quoted_table(ACCOUNT) == '"Account"'
    assert fmt.column_name("ERP_Id__c") == "ERP_Id__c"
    assert fmt.quoted_column("Name") == '"Name"'
    assert fmt.quote_identifier('a"b') == '"a""b"'


def test_tables_have_one_typed_column_per_field(conn: sqlite3.Connection) -> None:
    columns = {row[1]: row[2] for row in conn.execute('PRAGMA table_info("Account")')}
    assert list(columns) == list(ACCOUNT.fields)
    assert columns["Id"] == "TEXT" and columns["IsDeleted"] == "INTEGER" and columns["AnnualRevenue"] == "REAL"
    assert columns["NumberOfEmployees"] == "INTEGER" and columns["CreatedDate"] == "TEXT"


def test_statements_are_idempotent(conn: sqlite3.Connection) -> None:
    for statement in fmt.create_table_statements(ACCOUNT):
        conn.execute(statement)


def test_indexes(conn: sqlite3.Connection) -> None:
    indexes = {row[1]: row[2] for row in conn.execute('PRAGMA index_list("Account")')}
    assert indexes["ix_Account_ERP_Id__c"] == 1
    for name in ("SystemModstamp", "LastModifiedDate", "CreatedDate", "OwnerId", "ParentId", "CreatedById"):
        assert indexes[f"ix_Account_{name}"] == 0
    assert "ix_Account_Name" not in indexes


def test_unique_index_is_case_insensitive_and_allows_many_nulls(conn: sqlite3.Connection) -> None:
    insert = 'INSERT INTO "Account" ("Id", "Name", "ERP_Id__c") VALUES (?, ?, ?)'
    conn.execute(insert, ("001000000000001AAA", "a", "ERP-1"))
    conn.execute(insert, ("001000000000002AAA", "b", None))
    conn.execute(insert, ("001000000000003AAA", "c", None))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(insert, ("001000000000004AAA", "d", "erp-1"))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(insert, ("001000000000001AAA", "e", None))


@pytest.mark.parametrize(("obj", "name", "value", "stored", "back"), [
    ("Account", "Name", "Acme", "Acme", "Acme"),
    ("Account", "IsDeleted", True, 1, True),
    ("Account", "IsDeleted", False, 0, False),
    ("Account", "NumberOfEmployees", 12, 12, 12),
    ("Account", "AnnualRevenue", 10, 10.0, 10.0),
    ("Account", "AnnualRevenue", 10.5, 10.5, 10.5),
    ("Task", "ActivityDate", "2024-01-31", "2024-01-31", "2024-01-31"),
    ("Task", "ActivityDate", date(2024, 1, 31), "2024-01-31", "2024-01-31"),
    ("Account", "CreatedDate", "2024-01-01T02:00:00+02:00", "2024-01-01T00:00:00.000+0000",
     "2024-01-01T00:00:00.000+0000"),
    ("Account", "CreatedDate", datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC), "2024-01-01T00:00:00.123+0000",
     "2024-01-01T00:00:00.123+0000"),
    ("Account", "Name", None, None, None),
    ("Account", "IsDeleted", None, None, None),
])
def test_round_trip(obj: str, name: str, value: object, stored: object, back: object) -> None:
    f = field(obj, name)
    assert fmt.to_storage(f, value) == stored
    result = fmt.from_storage(f, stored)
    assert result == back and type(result) is type(back)


def test_row_decoder_converts_only_non_text_columns() -> None:
    fields = [field("Account", n) for n in ("Name", "IsDeleted", "NumberOfEmployees", "AnnualRevenue", "CreatedDate")]
    decode = fmt.row_decoder(fields)
    assert decode(("A", 1, 3, 4, "2024-01-01T00:00:00.000+0000")) == [
        "A", True, 3, 4.0, "2024-01-01T00:00:00.000+0000"]
    assert decode((None, None, None, None, None)) == [None] * 5
    assert fmt.storage_decoder(field("Account", "Name")) is None


@pytest.mark.parametrize("text", [
    "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00+0000", "2024-01-01T00:00:00.000+0000",
    "2024-01-01T00:00:00+00:00", "2024-01-01T01:30:00+01:30", "2023-12-31T19:00:00.000-05:00",
])
def test_parse_datetime_accepts_salesforce_forms(text: str) -> None:
    assert fmt.parse_datetime(text) == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", [
    "2024-01-01", "2024-01-01T00:00:00", "2024-01-01 00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00+25:00",
    "9999-12-31T23:59:59-05:00", "yesterday", "",
])
def test_parse_datetime_rejects_others(text: str) -> None:
    with pytest.raises(ValueError):
        fmt.parse_datetime(text)


def test_format_datetime_is_fixed_width_utc_and_orders_as_text() -> None:
    local = datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert fmt.format_datetime(local) == "2024-01-01T00:00:00.000+0000"
    assert fmt.format_datetime(datetime(2024, 1, 1)) == "2024-01-01T00:00:00.000+0000"
    stamps = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(milliseconds=k * 997) for k in range(0, 5000, 37)]
    texts = [fmt.format_datetime(s) for s in stamps]
    assert sorted(texts) == texts and len({len(t) for t in texts}) == 1


def test_parse_date() -> None:
    assert fmt.parse_date("2024-02-29") == date(2024, 2, 29)
    for bad in ("2024-02-30", "2024-2-3", "2024-02-03T00:00:00Z", ""):
        with pytest.raises(ValueError):
            fmt.parse_date(bad)
