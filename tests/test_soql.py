"""The SOQL engine over real tables: filters, ordering, paging, shapes and Salesforce's errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.salesforce import storage_format as fmt
from emulators.salesforce.ids import make_id
from emulators.salesforce.schema import load_schema
from emulators.salesforce.soql import CompiledQuery, SoqlError, compile_query, execute_page

NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
SCHEMA = load_schema()
PREFIX = {"User": "005", "Account": "001", "Contact": "003", "Task": "00T"}


class Org:
    """A temp SQLite org with the real tables and a few records."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(str(path))
        for obj in SCHEMA.objects.values():
            for statement in fmt.create_table_statements(obj):
                self.conn.execute(statement)
        self.serial = 0
        self.ids: dict[str, str] = {}

    def insert(self, key: str, object_name: str, created: datetime = NOW, **values: Any) -> str:
        obj = SCHEMA.object(object_name)
        assert obj is not None
        self.serial += 1
        record_id = make_id(PREFIX[object_name], self.serial)
        row = {"Id": record_id, "IsDeleted": False, "CreatedDate": created, "LastModifiedDate": created,
               "SystemModstamp": created, "CreatedById": None, "LastModifiedById": None, **values}
        names = list(row)
        stored = [fmt.to_storage(obj.fields[name], row[name]) for name in names]
        columns = ", ".join(fmt.quoted_column(name) for name in names)
        self.conn.execute(f"INSERT INTO {fmt.quoted_table(obj)} ({columns}) VALUES ({', '.join('?' * len(names))})",
                          stored)
        self.ids[key] = record_id
        return record_id

    def compile(self, soql: str, *, include_deleted: bool = False) -> CompiledQuery:
        return compile_query(soql, SCHEMA, now=NOW, include_deleted=include_deleted, api_version="59.0")

    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        compiled = self.compile(soql, include_deleted=include_deleted)
        rowids = [row[0] for row in self.conn.execute(compiled.ids_sql, compiled.ids_params)]
        return execute_page(self.conn, compiled, rowids)

    def keys(self, soql: str, **kwargs: Any) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[r["attributes"]["url"].rsplit("/", 1)[1]] for r in self.query(soql, **kwargs)]

    def count(self, soql: str) -> int:
        compiled = self.compile(soql)
        assert compiled.is_count
        return int(self.conn.execute(compiled.count_sql, compiled.count_params).fetchone()[0])


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    o = Org(tmp_path_factory.mktemp("soql") / "org.db")
    alice = o.insert("alice", "User", Username="alice@example.com", LastName="Alice", Alias="a",
                     Email="alice@example.com", IsActive=True)
    bob = o.insert("bob", "User", Username="bob@example.com", LastName="Bob", Alias="b",
                   Email="bob@example.com", IsActive=False)
    acme = o.insert("acme", "Account", Name="Acme", OwnerId=alice, AnnualRevenue=1000.5, NumberOfEmployees=10,
                    Industry="Technology", Description="50% off_now",
                    BillingStreet="50% off_now")
    beta = o.insert("beta", "Account", created=NOW - timedelta(days=1), Name="beta corp", OwnerId=bob,
                    NumberOfEmployees=None, Description="50 percent offnow", BillingStreet="50 percent offnow",
                    ParentId=acme)
    o.insert("gamma", "Account", created=NOW - timedelta(days=10), Name="Gamma", NumberOfEmployees=300,
             IsDeleted=True)
    o.insert("delta", "Account", created=NOW - timedelta(days=40), Name="delta", OwnerId=alice,
             Industry="Banking", NumberOfEmployees=-5, AnnualRevenue=0.25)
    o.insert("smith", "Contact", LastName="Smith", AccountId=acme, Email="S@Example.com", OwnerId=bob)
    o.insert("jones", "Contact", LastName="jones", AccountId=beta, Title="It's \\ here\nnow")
    o.insert("brown", "Contact", LastName="Brown")
    o.insert("t_today", "Task", Subject="today", ActivityDate="2024-03-15", Status="Completed")
    o.insert("t_yesterday", "Task", Subject="yesterday", ActivityDate="2024-03-14", Status="Not Started")
    o.insert("t_5days", "Task", Subject="five", ActivityDate="2024-03-10", Status="Not Started")
    o.insert("t_tomorrow", "Task", Subject="tomorrow", ActivityDate="2024-03-16", Status="Not Started")
    o.insert("t_none", "Task", Subject=None, ActivityDate=None, Status="Deferred")
    o.conn.commit()
    yield o
    o.conn.close()


# -- shapes ----------------------------------------------------------------------------------


def test_record_shape_with_attributes_types_and_field_order(org: Org) -> None:
    records = org.query("SELECT name, Id, AnnualRevenue, NumberOfEmployees, Industry FROM account WHERE Name = 'acme'")
    assert records == [{
        "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{org.ids['acme']}"},
        "Name": "Acme", "Id": org.ids["acme"], "AnnualRevenue": 1000.5, "NumberOfEmployees": 10,
        "Industry": "Technology",
    }]
    assert list(records[0]) == ["attributes", "Name", "Id", "AnnualRevenue", "NumberOfEmployees", "Industry"]
    assert isinstance(records[0]["NumberOfEmployees"], int)


def test_parent_fields_nest_with_their_own_attributes_or_null(org: Org) -> None:
    records = org.query("SELECT LastName, Account.Name, Account.Owner.Username, Account.Owner.IsActive, Owner.Alias "
                        "FROM Contact ORDER BY LastName")
    by_name = {r["LastName"]: r for r in records}
    assert by_name["Smith"]["Account"] == {
        "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{org.ids['acme']}"},
        "Name": "Acme",
        "Owner": {
            "attributes": {"type": "User", "url": f"/services/data/v59.0/sobjects/User/{org.ids['alice']}"},
            "Username": "alice@example.com", "IsActive": True,
        },
    }
    assert by_name["Smith"]["Owner"]["Alias"] == "b"
    assert by_name["jones"]["Account"]["Owner"]["IsActive"] is False
    assert by_name["Brown"]["Account"] is None
    assert by_name["Brown"]["Owner"] is None
    assert list(by_name["Smith"]) == ["attributes", "LastName", "Account", "Owner"]


def test_self_relationship_and_alias(org: Org) -> None:
    records = org.query("SELECT a.Name, a.Parent.Name FROM Account a WHERE a.Parent.Name = 'ACME'")
    assert [(r["Name"], r["Parent"]["Name"]) for r in records] == [("beta corp", "Acme")]


def test_keywords_and_names_are_case_insensitive_and_output_keys_canonical(org: Org) -> None:
    records = org.query("select LASTNAME, account.NAME from CONTACT where LastName = 'SMITH'")
    assert [r["LastName"] for r in records] == ["Smith"]
    assert records[0]["Account"]["Name"] == "Acme"


def test_fields_functions_expand_to_the_objects_fields(org: Org) -> None:
    task = SCHEMA.object("Task")
    assert task is not None
    standard = org.query("SELECT FIELDS(STANDARD) FROM Task WHERE Subject = 'today'")[0]
    assert list(standard)[1:] == [name for name in task.fields if not name.endswith("__c")]
    assert standard["ActivityDate"] == "2024-03-15" and standard["IsDeleted"] is False
    custom = org.query("SELECT Id, FIELDS(CUSTOM) FROM Task WHERE Subject = 'today' LIMIT 200")[0]
    assert list(custom)[1:] == ["Id", "ERP_Id__c"]
    everything = org.query("SELECT FIELDS(ALL), Subject FROM Task WHERE Subject = 'today' LIMIT 1")[0]
    assert list(everything)[1:] == [name for name in task.fields if name != "Subject"] + ["Subject"]


# -- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("where", "expected"), [
    ("Name = 'ACME'", ["acme"]),
    ("Name != 'acme'", ["beta", "delta"]),
    ("Name <> 'acme'", ["beta", "delta"]),
    ("Industry != 'Banking'", ["acme", "beta"]),
    ("Industry = null", ["beta"]),
    ("Industry != null", ["acme", "delta"]),
    ("Name > 'b'", ["beta", "delta"]),
    ("Name <= 'BETA CORP'", ["acme", "beta"]),
    ("Name IN ('acme', 'Delta')", ["acme", "delta"]),
    ("Name NOT IN ('acme', 'Delta')", ["beta"]),
    ("Industry IN ('Banking', null)", ["beta", "delta"]),
    ("Industry NOT IN ('Banking')", ["acme", "beta"]),
    ("Industry NOT IN ('Banking', null)", ["acme"]),
    ("Name LIKE 'a%'", ["acme"]),
    ("Name LIKE '%X_ CORP'", []),
    ("Name LIKE '%E__ CORP'", ["beta"]),
    ("Name LIKE '_elta'", ["delta"]),
    ("BillingStreet LIKE '50\\% off\\_now'", ["acme"]),
    ("BillingStreet LIKE '50%off%now'", ["acme", "beta"]),
    ("BillingStreet LIKE '50 %'", ["beta"]),
    ("NumberOfEmployees > 5", ["acme"]),
    ("NumberOfEmployees < 0", ["delta"]),
    ("NumberOfEmployees >= -5", ["acme", "delta"]),
    ("NumberOfEmployees = null", ["beta"]),
    ("NumberOfEmployees != 10", ["beta", "delta"]),
    ("AnnualRevenue > 1000.25", ["acme"]),
    ("AnnualRevenue <= 0.25", ["delta"]),
    ("Owner.IsActive = true", ["acme", "delta"]),
    ("Owner.IsActive = false", ["beta"]),
    ("Owner.IsActive != true", ["beta"]),
    ("Owner.Username LIKE 'ALICE%'", ["acme", "delta"]),
    ("OwnerId = null", []),
    ("Owner.IsActive = null", ["beta"]),
    ("Owner.IsActive != null", ["acme", "delta"]),
    ("Parent.Name = null", ["acme", "delta"]),
    ("Parent.Owner.Username = null", ["acme", "delta"]),
    ("Name != 'acme' AND (NOT Industry = 'Banking')", ["beta"]),
    ("NOT Name = 'acme'", ["beta", "delta"]),
    ("NOT (Industry = 'Banking')", ["acme", "beta"]),
    ("(Name = 'acme' OR Name = 'delta') AND NumberOfEmployees > 0", ["acme"]),
    ("Name = 'acme' OR (Industry = null AND NumberOfEmployees = null)", ["acme", "beta"]),
    ("NOT (Name = 'acme' OR Name = 'delta')", ["beta"]),
])
def test_filters(org: Org, where: str, expected: list[str]) -> None:
    assert org.keys(f"SELECT Id FROM Account WHERE {where}") == expected


def test_id_filters_accept_15_and_18_character_ids(org: Org) -> None:
    acme = org.ids["acme"]
    assert org.keys(f"SELECT Id FROM Account WHERE Id = '{acme[:15]}'") == ["acme"]
    assert org.keys(f"SELECT Id FROM Contact WHERE AccountId IN ('{acme}', '{org.ids['beta']}')") == ["smith", "jones"]
    assert org.keys(f"SELECT Id FROM Account WHERE Id > '{acme}'") == ["beta", "delta"]


def test_string_escapes(org: Org) -> None:
    assert org.keys("SELECT Id FROM Contact WHERE Title = 'It\\'s \\\\ here\\nnow'") == ["jones"]
    assert org.keys("SELECT Id FROM Contact WHERE Title LIKE 'it\\'s \\\\%'") == ["jones"]
    assert org.keys("SELECT Id FROM Contact WHERE Email = 's@example.COM'") == ["smith"]


@pytest.mark.parametrize(("where", "expected"), [
    ("ActivityDate = TODAY", ["t_today"]),
    ("ActivityDate = YESTERDAY", ["t_yesterday"]),
    ("ActivityDate = TOMORROW", ["t_tomorrow"]),
    ("ActivityDate = LAST_N_DAYS:1", ["t_today", "t_yesterday"]),
    ("ActivityDate = LAST_N_DAYS:5", ["t_today", "t_yesterday", "t_5days"]),
    ("ActivityDate < LAST_N_DAYS:4", ["t_5days"]),
    ("ActivityDate > TODAY", ["t_tomorrow"]),
    ("ActivityDate >= TODAY", ["t_today", "t_tomorrow"]),
    ("ActivityDate <= YESTERDAY", ["t_yesterday", "t_5days"]),
    ("ActivityDate != TODAY", ["t_yesterday", "t_5days", "t_tomorrow", "t_none"]),
    ("ActivityDate = NEXT_N_DAYS:1", ["t_tomorrow"]),
    ("ActivityDate = 2024-03-10", ["t_5days"]),
    ("ActivityDate < 2024-03-14", ["t_5days"]),
    ("ActivityDate = null", ["t_none"]),
    ("Status IN ('completed', 'DEFERRED')", ["t_today", "t_none"]),
])
def test_date_filters_on_a_date_field(org: Org, where: str, expected: list[str]) -> None:
    assert org.keys(f"SELECT Id FROM Task WHERE {where}") == expected


@pytest.mark.parametrize(("where", "expected"), [
    ("CreatedDate = TODAY", ["acme"]),
    ("CreatedDate = YESTERDAY", ["beta"]),
    ("CreatedDate = LAST_N_DAYS:1", ["acme", "beta"]),
    ("CreatedDate = LAST_N_DAYS:30", ["acme", "beta"]),
    ("CreatedDate < LAST_N_DAYS:30", ["delta"]),
    ("CreatedDate >= 2024-03-15T12:00:00Z", ["acme"]),
    ("CreatedDate > 2024-03-15T11:59:59.999Z", ["acme"]),
    ("CreatedDate = 2024-03-15T14:00:00+02:00", ["acme"]),
    ("CreatedDate = 2024-03-15T07:00:00-05:00", ["acme"]),
    ("CreatedDate < 2024-03-15T07:00:00-05:00", ["beta", "delta"]),
])
def test_date_filters_on_a_datetime_field(org: Org, where: str, expected: list[str]) -> None:
    assert org.keys(f"SELECT Id FROM Account WHERE {where}") == expected


def test_deleted_rows_only_with_include_deleted(org: Org) -> None:
    assert "gamma" not in org.keys("SELECT Id FROM Account")
    assert org.keys("SELECT Id FROM Account WHERE IsDeleted = true", include_deleted=True) == ["gamma"]
    assert org.keys("SELECT Id FROM Account", include_deleted=True) == ["acme", "beta", "gamma", "delta"]


# -- ordering, paging, counting --------------------------------------------------------------


@pytest.mark.parametrize(("order", "expected"), [
    ("Name", ["acme", "beta", "delta"]),
    ("Name DESC", ["delta", "beta", "acme"]),
    ("Industry", ["beta", "delta", "acme"]),
    ("Industry ASC NULLS LAST", ["delta", "acme", "beta"]),
    ("Industry DESC", ["acme", "delta", "beta"]),
    ("Industry DESC NULLS FIRST", ["beta", "acme", "delta"]),
    ("Owner.Username DESC, Name DESC", ["beta", "delta", "acme"]),
    ("Owner.IsActive, NumberOfEmployees DESC NULLS LAST", ["beta", "acme", "delta"]),
    ("Parent.Name NULLS LAST, CreatedDate", ["beta", "delta", "acme"]),
])
def test_order_by(org: Org, order: str, expected: list[str]) -> None:
    assert org.keys(f"SELECT Id FROM Account ORDER BY {order}") == expected


def test_order_by_text_is_case_insensitive(org: Org) -> None:
    assert [r["LastName"] for r in org.query("SELECT LastName FROM Contact ORDER BY LastName")] == [
        "Brown", "jones", "Smith"]


def test_limit_and_offset(org: Org) -> None:
    assert org.keys("SELECT Id FROM Account ORDER BY Name LIMIT 2") == ["acme", "beta"]
    assert org.keys("SELECT Id FROM Account ORDER BY Name LIMIT 2 OFFSET 1") == ["beta", "delta"]
    assert org.keys("SELECT Id FROM Account ORDER BY Name OFFSET 2") == ["delta"]
    assert org.keys("SELECT Id FROM Account LIMIT 0") == []


def test_count(org: Org) -> None:
    assert org.count("SELECT COUNT() FROM Account") == 3
    assert org.count("SELECT count() FROM Contact WHERE Account.Owner.Username = 'alice@example.com'") == 1
    assert org.count("SELECT COUNT() FROM Account LIMIT 2") == 2
    assert org.count("SELECT COUNT() FROM Account LIMIT 5 OFFSET 2") == 1


def test_rows_sql_returns_rowid_first_and_skips_vanished_rows(org: Org) -> None:
    compiled = org.compile("SELECT Name FROM Account ORDER BY Name DESC")
    rowids = [row[0] for row in org.conn.execute(compiled.ids_sql, compiled.ids_params)]
    rows = org.conn.execute(compiled.rows_sql(len(rowids)), rowids).fetchall()
    assert sorted(row[0] for row in rows) == sorted(rowids)
    assert [r["Name"] for r in execute_page(org.conn, compiled, [*rowids, 99_999])] == ["delta", "beta corp", "Acme"]
    assert compiled.object_name == "Account" and compiled.columns == ["Name"]


def test_filter_values_are_bound_never_formatted(org: Org) -> None:
    compiled = org.compile("SELECT Id FROM Account WHERE Name = 'x\\' OR 1=1 --'")
    assert "1=1" not in compiled.ids_sql
    assert "x' OR 1=1 --" in compiled.ids_params
    assert org.keys("SELECT Id FROM Account WHERE Name = 'x\\' OR 1=1 --'") == []


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("soql", "code", "message"), [
    ("SELECT Id FROM Foo", "INVALID_TYPE", "sObject type 'Foo' is not supported. If you are attempting to use a "
                                           "custom object, be sure to append the '__c' after the entity name."),
    ("SELECT Foo FROM Account", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'. If you are attempting to "
                                                 "use a custom field, be sure to append the '__c'"),
    ("SELECT Account.Foo FROM Contact", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'."),
    ("SELECT Acct.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Acct' in field path."),
    ("SELECT Id FROM Account WHERE Bar = 1", "INVALID_FIELD", "No such column 'Bar' on entity 'Account'."),
    ("SELECT Id FROM Account ORDER BY Bar", "INVALID_FIELD", "No such column 'Bar' on entity 'Account'."),
    ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01", "INVALID_FIELD",
     "value of filter criterion for field 'CreatedDate' must be of type dateTime and should not be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE CreatedDate > '2024-01-01T00:00:00Z'", "INVALID_FIELD",
     "field 'CreatedDate' must be of type dateTime"),
    ("SELECT Id FROM Task WHERE ActivityDate = 2024-01-01T00:00:00Z", "INVALID_FIELD",
     "field 'ActivityDate' must be of type date and should not be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE NumberOfEmployees = '5'", "INVALID_FIELD",
     "field 'NumberOfEmployees' must be of type integer and should not be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE AnnualRevenue > '5'", "INVALID_FIELD", "must be of type double"),
    ("SELECT Id FROM Account WHERE IsDeleted = 'true'", "INVALID_FIELD", "must be of type boolean"),
    ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD",
     "field 'Name' must be of type string and should be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE Name = TODAY", "INVALID_FIELD", "must be of type string"),
    ("SELECT Id FROM Account WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc"),
    ("SELECT Id FROM Account WHERE Id LIKE '001%'", "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on id field"),
    ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000"),
    ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
    ("SELECT FROM Account", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
    ("SELECT Id, FROM Account", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
    ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY",
     "unexpected token: 'OR'"),
    ("SELECT Id FROM Account WHERE Name = 'abc", "MALFORMED_QUERY", "mismatched character '<EOF>'"),
    ("SELECT Id FROM Account WHERE Name = 'a\\qb'", "MALFORMED_QUERY", "Illegal escape sequence '\\q'"),
    ("SELECT Id FROM Account WHERE Name = :name", "MALFORMED_QUERY", "Bind variables only allowed in Apex code"),
    ("SELECT Id FROM Account WHERE Name = \"x\"", "MALFORMED_QUERY", "no viable alternative at character '\"'"),
    ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01T00:00:00", "MALFORMED_QUERY", "no viable alternative"),
    ("SELECT Id FROM Task WHERE ActivityDate = 2024-02-30", "MALFORMED_QUERY", "invalid date: 2024-02-30"),
    ("SELECT Id, Name, id FROM Account", "MALFORMED_QUERY", "duplicate field selected: id"),
    ("SELECT COUNT(), Name FROM Account", "MALFORMED_QUERY", "unexpected token: ','"),
    ("SELECT COUNT(Id) FROM Account", "MALFORMED_QUERY", "COUNT(fieldName) and other aggregate functions is not "
                                                         "supported"),
    ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "MALFORMED_QUERY", "A relationship subquery is not"),
    ("SELECT Id FROM Account GROUP BY Name", "MALFORMED_QUERY", "GROUP BY is not supported"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", "MALFORMED_QUERY", "semi-join subquery"),
    ("SELECT Id FROM Account WHERE CreatedDate = THIS_MONTH", "MALFORMED_QUERY", "date literal THIS_MONTH"),
    ("SELECT What.Name FROM Task", "MALFORMED_QUERY", "polymorphic relationship 'What'"),
    ("SELECT Id FROM Account, Contact", "MALFORMED_QUERY", "more than one object"),
    ("SELECT Id FROM Account LIMIT -1", "MALFORMED_QUERY", "unexpected token: '-1'"),
    ("SELECT Id FROM Account WHERE Name < null", "INVALID_QUERY_FILTER_OPERATOR", "null"),
    ("SELECT Id FROM Account FOR UPDATE", "MALFORMED_QUERY", "FOR VIEW/UPDATE/REFERENCE is not supported"),
    ("DELETE FROM Account", "MALFORMED_QUERY", "unexpected token: 'DELETE'"),
    ("SELECT Id FROM Account WHERE Name != null AND NOT (Name = 'x')", "MALFORMED_QUERY", "unexpected token: 'NOT'"),
    ("SELECT FIELDS(ALL) FROM Account", "MALFORMED_QUERY", "The SOQL FIELDS function must have a LIMIT of at most 200"),
    ("SELECT FIELDS(CUSTOM) FROM Account LIMIT 201", "MALFORMED_QUERY", "must have a LIMIT of at most 200"),
    ("SELECT FIELDS(NONE) FROM Account", "MALFORMED_QUERY", "unexpected token: 'NONE'"),
])
def test_errors(soql: str, code: str, message: str) -> None:
    with pytest.raises(SoqlError) as raised:
        compile_query(soql, SCHEMA, now=NOW, include_deleted=False, api_version="59.0")
    assert raised.value.error_code == code
    assert message in raised.value.message


def test_error_message_points_at_the_token() -> None:
    with pytest.raises(SoqlError) as raised:
        compile_query("SELECT Id\nFROM Account\nWHERE Nme = 'x'", SCHEMA, now=NOW, include_deleted=False,
                      api_version="59.0")
    assert raised.value.message.startswith("\nWHERE Nme = 'x'\n      ^\nERROR at Row:3:Column:7\nNo such column 'Nme'")


# -- fuzz ------------------------------------------------------------------------------------

WORDS = ["SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET", "ASC",
         "DESC", "NULLS", "FIRST", "LAST", "COUNT", "Id", "Name", "Account", "Contact", "Owner", "Username",
         "Account.Name", "CreatedDate", "ActivityDate", "Task", "User", "null", "true", "false", "TODAY",
         "YESTERDAY", "LAST_N_DAYS", ":", "5", "-3", "2.5", "2024-01-31", "2024-01-31T10:00:00Z",
         "2024-13-45T99:99:99+99:99", "'x'", "'a\\'b'", "'%\\_'", "'", "\\", "(", ")", ",", ".", "=", "!=", "<>",
         "<", "<=", ">", ">=", "GROUP", "TYPEOF", "99999999999999999999999999", "IsDeleted", "Parent.Parent.Name",
         "FIELDS(ALL)", "FIELDS(STANDARD)"]


FIELDS = ["Id", "Name", "NumberOfEmployees", "AnnualRevenue", "CreatedDate", "IsDeleted", "Industry", "OwnerId",
          "Owner.Username", "Owner.IsActive", "Parent.Name", "Parent.Owner.Email", "Description"]
VALUES = ["'x'", "'a%'", "null", "true", "5", "-2.5", "2024-01-31", "2024-01-31T10:00:00.5+01:00", "TODAY",
          "LAST_N_DAYS:7", "'001000000000001'"]
OPERATORS = ["=", "!=", "<>", "<", ">=", "LIKE"]


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth < 2 and draw(st.booleans()):
        joiner = draw(st.sampled_from([" AND ", " OR "]))
        parts = draw(st.lists(conditions(depth + 1), min_size=2, max_size=3))
        text = "(" + joiner.join(parts) + ")"
        return ("NOT " + text) if draw(st.booleans()) else text
    field = draw(st.sampled_from(FIELDS))
    if draw(st.booleans()):
        values = draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=3))
        return f"{field} {draw(st.sampled_from(['IN', 'NOT IN']))} ({', '.join(values)})"
    return f"{field} {draw(st.sampled_from(OPERATORS))} {draw(st.sampled_from(VALUES))}"


@st.composite
def grammatical_queries(draw: st.DrawFn) -> str:
    fields = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=5, unique=True))
    soql = f"SELECT {', '.join(fields)} FROM Account"
    if draw(st.booleans()):
        soql += " WHERE " + draw(conditions())
    if draw(st.booleans()):
        order = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3))
        directions = st.sampled_from(["", " ASC", " DESC"])
        nulls = st.sampled_from(["", " NULLS FIRST", " NULLS LAST"])
        soql += " ORDER BY " + ", ".join(f + draw(directions) + draw(nulls) for f in order)
    if draw(st.booleans()):
        soql += f" LIMIT {draw(st.integers(0, 50))}"
    return soql


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    grammatical_queries(),
    st.text(max_size=120),
    st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join),
    st.lists(st.sampled_from(WORDS), max_size=25).map(lambda words: "SELECT Id FROM Account " + " ".join(words)),
    st.lists(st.sampled_from(WORDS), max_size=25).map(lambda words: "SELECT Id FROM Task WHERE " + "".join(words)),
))
def test_fuzz_only_soql_errors(soql: str) -> None:
    try:
        compiled = compile_query(soql, SCHEMA, now=NOW, include_deleted=False, api_version="59.0")
    except SoqlError as exc:
        assert exc.error_code and exc.message
        return
    connection = sqlite3.connect(":memory:")
    for obj in SCHEMA.objects.values():
        for statement in fmt.create_table_statements(obj):
            connection.execute(statement)
    connection.execute(compiled.count_sql if compiled.is_count else compiled.ids_sql,
                       compiled.count_params if compiled.is_count else compiled.ids_params).fetchall()
    connection.execute(compiled.rows_sql(1), [1]).fetchall()


def test_queries_built_with_format_soql(org: Org) -> None:
    from simple_salesforce import format_soql

    soql = format_soql("SELECT Id FROM Account WHERE CreatedDate >= {} AND Name IN {} "
                       "AND BillingStreet LIKE '{:like}%'",
                       NOW - timedelta(hours=1), ["ACME", "delta"], "50% off_")
    assert org.keys(soql) == ["acme"]
    assert org.keys(format_soql("SELECT Id FROM Contact WHERE Title = {}", "It's \\ here\nnow")) == ["jones"]
