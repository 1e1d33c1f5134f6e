"""Field digests and content hashes stay byte-for-byte what stores already hold.

A binding keeps each side's digest; if the digest code made a different text for the same value, every
record bound before an upgrade would look changed after it. The expected strings below were computed
with the digest code as it was before it was optimised (issue #15) and must never change.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tandem.mapper import MappedPage, Mapper
from tandem.mapping import Direction, parse_mapping_set
from tandem.store.digests import DigestMaker, signature, value_digest
from tandem.store.hashing import canonical_form, content_hash


class _Colour(enum.Enum):
    RED = "red"


class _Size(enum.StrEnum):
    LARGE = "large"


#: Values of every kind a mapped field can hold: label -> value.
VALUES: dict[str, Any] = {
    "none": None,
    "nan": float("nan"),
    "numpy_nan": np.nan,
    "nat": pd.NaT,
    "pd_na": pd.NA,
    "decimal_nan": Decimal("NaN"),
    "empty": "",
    "blank": "  ",
    "text": "Acme Ltd",
    "quotes_and_controls": 'say "hi"\\ \n\t\x00\x1f end',
    "nfc": "Caf\u00e9",
    "nfd": "Cafe\u0301",
    "unicode": "Zürich \u2013 東京 😀 \u2028",
    "number_text": "1",
    "decimal_text": "1.0",
    "int": 1,
    "float_whole": 1.0,
    "decimal_whole": Decimal("1.00"),
    "numpy_int": np.int64(1),
    "numpy_float": np.float64(2.5),
    "tenth": 0.1,
    "decimal_tenth": Decimal("0.10"),
    "negative_zero": -0.0,
    "big": 1e20,
    "small": 1.5e-7,
    "negative": -12345.678,
    "big_int": 2**70,
    "inf": float("inf"),
    "decimal_inf": Decimal("-Infinity"),
    "true": True,
    "false": False,
    "numpy_true": np.bool_(True),
    "true_text": "true",
    "date": date(2024, 5, 1),
    "old_date": date(1, 1, 1),
    "date_text": "2024-05-01",
    "datetime_naive": datetime(2024, 5, 1, 12, 30, 15, 123456),
    "datetime_aware": datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
    "datetime_utc": datetime(2024, 5, 1, 10, 30, tzinfo=UTC),
    "timestamp": pd.Timestamp("2024-05-01T10:30:00Z"),
    "time": time(9, 5, 7),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "bytes": b"\x00\xffabc",
    "enum": _Colour.RED,
    "str_enum": _Size.LARGE,
    "reference": "001000000000001AAA",
    "erp_reference": "4711",
    "list": [1, "a", None, 2.0],
    "tuple": (True, "x"),
    "set": {"b", "a"},
    "mapping": {"b": 1, "a": [2, Decimal("2.50")], "c": None},
    "empty_list": [],
}

#: value_digest of each value, as stores hold it.
VALUE_DIGESTS: dict[str, str] = {
    "none": "33WhJiPL",
    "nan": "33WhJiPL",
    "numpy_nan": "33WhJiPL",
    "nat": "33WhJiPL",
    "pd_na": "33WhJiPL",
    "decimal_nan": "33WhJiPL",
    "empty": "4AVhRK4e",
    "blank": "Z_XpHh-m",
    "text": "uJQgXqn0",
    "quotes_and_controls": "LepUREP7",
    "nfc": "NKTh717r",
    "nfd": "NKTh717r",
    "unicode": "v4DUB52a",
    "number_text": "5GAKctzJ",
    "decimal_text": "nBSTcOeR",
    "int": "67w5qvAI",
    "float_whole": "67w5qvAI",
    "decimal_whole": "67w5qvAI",
    "numpy_int": "67w5qvAI",
    "numpy_float": "rQcB2btJ",
    "tenth": "2lhm25Wh",
    "decimal_tenth": "2lhm25Wh",
    "negative_zero": "-hSyfl8J",
    "big": "whD78ZDx",
    "small": "svx9FynK",
    "negative": "4-7hKZZN",
    "big_int": "1BQ_YoJf",
    "inf": "G7CMdaMU",
    "decimal_inf": "bhUO2gg_",
    "true": "k0GkFe7I",
    "false": "mYIKnF8I",
    "numpy_true": "k0GkFe7I",
    "true_text": "Yre0oEFv",
    "date": "qlm0Dus2",
    "old_date": "KrX6O5S1",
    "date_text": "qlm0Dus2",
    "datetime_naive": "7vjuvHV-",
    "datetime_aware": "UIIsshwM",
    "datetime_utc": "UIIsshwM",
    "timestamp": "UIIsshwM",
    "time": "PyfODvyh",
    "uuid": "d-DPmzEk",
    "bytes": "MFTT8Yya",
    "enum": "50iZu3Ry",
    "str_enum": "syMAiNB0",
    "reference": "cSBCu23h",
    "erp_reference": "lsZKaj7g",
    "list": "CciFZ6sv",
    "tuple": "S_cT5ePI",
    "set": "mHzLEqf-",
    "mapping": "RrHdgY3W",
    "empty_list": "9IIS0yDE",
}

#: canonical_form of each value.
CANONICAL: dict[str, str] = {
    "none": "null",
    "nan": "null",
    "numpy_nan": "null",
    "nat": "null",
    "pd_na": "null",
    "decimal_nan": "null",
    "empty": '""',
    "blank": '"  "',
    "text": '"Acme Ltd"',
    "quotes_and_controls": '"say \\"hi\\"\\\\ \\n\\t\\u0000\\u001f end"',
    "nfc": '"Café"',
    "nfd": '"Café"',
    "unicode": '"Zürich \u2013 東京 😀 \u2028"',
    "number_text": '"1"',
    "decimal_text": '"1.0"',
    "int": "1",
    "float_whole": "1",
    "decimal_whole": "1",
    "numpy_int": "1",
    "numpy_float": "2.5",
    "tenth": "0.1",
    "decimal_tenth": "0.1",
    "negative_zero": "0",
    "big": "100000000000000000000",
    "small": "0.00000015",
    "negative": "-12345.678",
    "big_int": "1180591620717411303424",
    "inf": '"Infinity"',
    "decimal_inf": '"-Infinity"',
    "true": "true",
    "false": "false",
    "numpy_true": "true",
    "true_text": '"true"',
    "date": '"2024-05-01"',
    "old_date": '"0001-01-01"',
    "date_text": '"2024-05-01"',
    "datetime_naive": '"2024-05-01T12:30:15.123456Z"',
    "datetime_aware": '"2024-05-01T10:30:00.000000Z"',
    "datetime_utc": '"2024-05-01T10:30:00.000000Z"',
    "timestamp": '"2024-05-01T10:30:00.000000Z"',
    "time": '"09:05:07.000000"',
    "uuid": '"12345678-1234-5678-1234-567812345678"',
    "bytes": '"AP9hYmM="',
    "enum": '"red"',
    "str_enum": '"large"',
    "reference": '"001000000000001AAA"',
    "erp_reference": '"4711"',
    "list": '[1,"a",null,2]',
    "tuple": '[true,"x"]',
    "set": '["a","b"]',
    "mapping": '{"a":[2,2.5],"b":1,"c":null}',
    "empty_list": "[]",
}

#: Records and the digests DigestMaker(FIELDS) gives them.
FIELDS = ["AccountNumber", "Description", "Name", "OwnerId", "Phone"]
RECORDS: dict[str, dict[str, Any]] = {
    "full": {"AccountNumber": "C-1", "Description": None, "Name": "Acme", "OwnerId": "005A", "Phone": "+1 555"},
    "absent_fields": {"Name": "Acme"},
    "typed": {"AccountNumber": 12, "Description": True, "Name": "Café", "OwnerId": date(2024, 5, 1), "Phone": 1.5},
    "extra_field": {"Name": "Acme", "Other": "ignored", "Phone": ""},
    "nan_values": {"AccountNumber": float("nan"), "Name": pd.NA, "Phone": None},
}
RECORD_DIGESTS: dict[str, str] = {
    "full": "~zvO-zLRCWfKG33WhJiPL13W61BlSBpw1bMRVqGTc7E9R",
    "absent_fields": "~zvO-~~~~~~~~~~~~~~~~13W61BlS~~~~~~~~~~~~~~~~",
    "typed": "~zvO-Bo5QqfM5k0GkFe7INKTh717rqlm0Dus2VG-mSr6Y",
    "extra_field": "~zvO-~~~~~~~~~~~~~~~~13W61BlS~~~~~~~~4AVhRK4e",
    "nan_values": "~zvO-33WhJiPL~~~~~~~~33WhJiPL~~~~~~~~33WhJiPL",
}
CONTENT_HASHES: dict[str, str] = {
    "full": "a1b9b87bcaf906cc7455d792da65a9caeaf8375c9a95621782b1443e883a8887",
    "absent_fields": "67d645bf9866180fbd0366018bbb6276395db45184f977ece23fd13f62d99605",
    "typed": "0cb01df4779aa78e671d118fd96b9689d26b63333778ea9ec594f44b8a93e9b5",
    "extra_field": "f875cc572ed3a451c738a935fb40fbd04f4a6a44d557b2012730f55d2cbb6146",
    "nan_values": "baf6fb5679750dbe8fa83bda2bbd833026b8308bfcf7dbfdaf0d071d950e07b3",
}
SIGNATURES: dict[str, str] = {
    "AccountNumber, Description, Name, OwnerId, Phone": "zvO-",
    "": "zsfq",
    "Name": "7ox_",
}

#: A mapping with typed fields, a value map, a reference, a template and an only-on-create field.
SPEC = {
    "entities": {
        "salesperson": {
            "crm_object": "User",
            "erp_type": "employee",
            "direction": "to_crm",
            "fields": [{"crm": "Email", "erp": "email"}],
        },
        "customer": {
            "crm_object": "Account",
            "erp_type": "customer",
            "direction": "both",
            "fields": [
                {"crm": "Name", "erp": "companyName"},
                {"crm": "Phone", "erp": "phone"},
                {"crm": "AccountNumber", "erp": "entityId", "direction": "to_crm"},
                {
                    "crm": "OwnerId",
                    "erp": "salesRep.internalId",
                    "direction": "to_crm",
                    "reference": "salesperson",
                    "unresolved": "omit",
                },
                {"crm": "Due__c", "erp": "dueDate", "type": "date"},
                {"crm": "Seen__c", "erp": "seenAt", "type": "datetime"},
                {"crm": "Amount__c", "erp": "amount", "type": "number"},
                {"crm": "Active__c", "erp": "active", "type": "boolean"},
                {"crm": "Title__c", "erp": "title", "type": "string"},
                {
                    "crm": "Rating",
                    "erp": "rating",
                    "values": [["Hot", "hot"], ["Cold", "cold"]],
                    "not_synced": {"erp": ["warm"]},
                },
                {"crm": "Source__c", "erp": "source", "only_on_create": True},
                {"crm": "Label__c", "erp": "label", "direction": "to_crm", "template": "{{label}} / {{entityId}}"},
            ],
        },
    }
}
FRAME = pd.DataFrame(
    {
        "id": ["1", "2", "3", "4", "5"],
        "companyName": ["Acme", "Café", "", None, "Zürich 東京"],
        "phone": ["+1 555", None, "123", "", "0"],
        "entityId": ["C-1", "C-2", "C-3", "C-4", "C-5"],
        "salesRep.internalId": ["7", None, "8", "7", None],
        "dueDate": ["2024-05-01", None, "2024-05-01T23:00:00+02:00", "", date(1999, 12, 31)],
        "seenAt": ["2024-05-01T10:30:00Z", "2024-05-01T12:30:00.123456+02:00", None, "", "2024-05-01T10:30:00"],
        "amount": ["12", 1.5, "1.2E3", None, 7],
        "active": ["true", False, "0", "yes", None],
        "title": ["Dr", 12, None, "", "x"],
        "rating": ["hot", "warm", "cold", None, "hot"],
        "source": ["web", "web", None, "fair", "web"],
        "label": ["a", "b", "c", "d", "e"],
    }
)
CREATING = [True, False, True, False, True]
#: The digests map_page gives FRAME's rows, in order.
MAPPED_HASHES: list[str] = [
    "~AJzTzLRCWfKGk0GkFe7IBo5QqfM5qlm0Dus2A5HyzV7x13W61BlSBpw1bMRVqGTc7E9RQ0Smq0NnLV33BIouRFWJK_y-",
    "~AJzTutEHv_C2mYIKnF8IVG-mSr6Y33WhJiPLsRxVS5AiNKTh717r33WhJiPL33WhJiPL~~~~~~~~gVfi-DsYiHUo2mqe",
    "~AJzTzRDP0bU6mYIKnF8IAFeZrL89qlm0Dus2b0fK9LRf4AVhRK4e~~~~~~~~X58YgvOcPKlnr-0t33WhJiPL33WhJiPL",
    "~AJzT7AJCq0HKk0GkFe7I33WhJiPL33WhJiPLR0hexbgt33WhJiPLBpw1bMRV4AVhRK4e33WhJiPL33WhJiPL4AVhRK4e",
    "~AJzTN7a9l1MG33WhJiPLr-Q5t0AIYLDHCjxSB9H9sqLcNf3ku-U233WhJiPLsLC7WmmlQ0Smq0NnLV33BIou79c2HppP",
]
#: The records map_page gives FRAME's rows (all map; skipped: OwnerId of row 2, Rating of row 1).
MAPPED_RECORDS: list[dict[str, Any]] = [
    {
        "Name": "Acme",
        "Phone": "+1 555",
        "AccountNumber": "C-1",
        "OwnerId": "005A",
        "Due__c": "2024-05-01",
        "Seen__c": "2024-05-01T10:30:00.000Z",
        "Amount__c": 12,
        "Active__c": True,
        "Title__c": "Dr",
        "Rating": "Hot",
        "Source__c": "web",
        "Label__c": "a / C-1",
    },
    {
        "Name": "Café",
        "Phone": None,
        "AccountNumber": "C-2",
        "OwnerId": None,
        "Due__c": None,
        "Seen__c": "2024-05-01T10:30:00.123Z",
        "Amount__c": 1.5,
        "Active__c": False,
        "Title__c": "12",
        "Label__c": "b / C-2",
    },
    {
        "Name": "",
        "Phone": "123",
        "AccountNumber": "C-3",
        "Due__c": "2024-05-01",
        "Seen__c": None,
        "Amount__c": 1200.0,
        "Active__c": False,
        "Title__c": None,
        "Rating": "Cold",
        "Source__c": None,
        "Label__c": "c / C-3",
    },
    {
        "Name": None,
        "Phone": "",
        "AccountNumber": "C-4",
        "OwnerId": "005A",
        "Due__c": None,
        "Seen__c": None,
        "Amount__c": None,
        "Active__c": True,
        "Title__c": "",
        "Rating": None,
        "Label__c": "d / C-4",
    },
    {
        "Name": "Zürich 東京",
        "Phone": "0",
        "AccountNumber": "C-5",
        "OwnerId": None,
        "Due__c": "1999-12-31",
        "Seen__c": "2024-05-01T10:30:00.000Z",
        "Amount__c": 7,
        "Active__c": None,
        "Title__c": "x",
        "Rating": "Hot",
        "Source__c": "web",
        "Label__c": "e / C-5",
    },
]


def _mapped_page() -> MappedPage:
    customer = parse_mapping_set(SPEC, "test.yaml").entities["customer"]
    return Mapper(customer, Direction.TO_CRM).map_page(
        FRAME, references={"salesperson": {"7": "005A"}}, creating=pd.Series(CREATING)
    )


@pytest.mark.parametrize("label", list(VALUES))
def test_value_digests_are_unchanged(label: str) -> None:
    assert value_digest(VALUES[label]) == VALUE_DIGESTS[label]
    assert canonical_form(VALUES[label]) == CANONICAL[label]


@pytest.mark.parametrize("label", list(RECORDS))
def test_record_digests_and_hashes_are_unchanged(label: str) -> None:
    maker = DigestMaker(FIELDS)
    assert maker.digest(RECORDS[label]) == RECORD_DIGESTS[label]
    assert maker.digest(RECORDS[label]) == RECORD_DIGESTS[label]  # again, from the per-field caches
    assert content_hash(RECORDS[label]) == CONTENT_HASHES[label]


def test_signatures_are_unchanged() -> None:
    assert {", ".join(names): signature(names) for names in (FIELDS, [], ["Name"])} == SIGNATURES


def test_mapped_pages_are_unchanged() -> None:
    page = _mapped_page()
    assert page.failures == []
    assert page.source_ids == ["1", "2", "3", "4", "5"]
    assert page.hashes == MAPPED_HASHES
    assert page.records == MAPPED_RECORDS
    assert [list(record) for record in page.records] == [list(record) for record in MAPPED_RECORDS]  # key order
    assert page.skipped_values == {"OwnerId": 1, "Rating": 1}
    assert page.skipped_fields == [[], ["Rating"], ["OwnerId"], [], []]


def test_digests_of_columns_are_the_record_digests() -> None:
    """``digests`` (a page, field by field) gives what ``digest`` gives each record; a field not given is left out."""
    left_out = object()
    labels = list(RECORDS)
    names = [name for name in FIELDS if name != "Description"]
    columns = {name: [RECORDS[label].get(name, left_out) for label in labels] for name in names}
    digests = DigestMaker(FIELDS).digests(columns, len(labels), absent=left_out)
    without_description = [
        DigestMaker(FIELDS).digest({k: v for k, v in RECORDS[label].items() if k != "Description"}) for label in labels
    ]
    assert digests == without_description
    assert DigestMaker(FIELDS).digests({}, 0, absent=left_out) == []
    assert DigestMaker([]).digests({}, 2, absent=left_out) == ["~" + SIGNATURES[""]] * 2


def test_a_page_with_no_field_this_way_maps_to_nothing() -> None:
    spec = {
        "entities": {
            "customer": {
                "crm_object": "Account",
                "erp_type": "customer",
                "direction": "both",
                "fields": [{"crm": "Name", "erp": "companyName", "direction": "to_erp"}],
            }
        }
    }
    customer = parse_mapping_set(spec, "test.yaml").entities["customer"]
    page = Mapper(customer, Direction.TO_CRM).map_page(pd.DataFrame({"id": ["1", "2"]}))
    assert page == MappedPage()
