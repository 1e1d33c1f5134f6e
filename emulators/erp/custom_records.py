"""The custom record types and custom lists the emulated account defines (Customization > Lists, Records & Fields).

NetSuite keeps records it has no standard type for as *custom records*: one SuiteTalk type,
``setupCustom:CustomRecord``, whose ``recType`` names the custom record type (by its internal id) and whose
``customFieldList`` carries the values of the type's custom fields (``StringCustomFieldRef``,
``DoubleCustomFieldRef``, ``DateCustomFieldRef``, ``SelectCustomFieldRef`` ... each naming its field by
``scriptId``). The emulator's account defines two types:

* ``customrecord_contract``: customer contracts, as an account without SuiteBilling holds them;
* ``customrecord_tandem_pairing``: which Salesforce org this account is paired with (written by Tandem).

Each type is served as a :class:`~emulators.erp.schema.RecordSpec` whose record type name is the type's script id
(``customrecord_contract``), so the store, searches and ``getDeleted`` treat it like any other record type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from emulators.erp.schema import FieldKind, FieldSpec, RecordSpec

CUSTOM_RECORD = "customRecord"
# CustomRecord's own (body) fields the emulator models, in the XSD's order, and how they are stored.
BODY_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("customRecordId", FieldKind.STRING),
    FieldSpec("isInactive", FieldKind.BOOLEAN),
    FieldSpec("created", FieldKind.DATETIME),
    FieldSpec("lastModified", FieldKind.DATETIME),
    FieldSpec("name", FieldKind.STRING),
    FieldSpec("altName", FieldKind.STRING),
    FieldSpec("recType", FieldKind.REF),
    FieldSpec("description", FieldKind.STRING),
)
READ_ONLY_BODY_FIELDS = frozenset({"customRecordId", "created", "lastModified", "recType"})

# A custom field's ``fieldType`` → how its value is stored, and the CustomFieldRef types a request may send it in.
FIELD_KINDS: dict[str, FieldKind] = {
    "_freeFormText": FieldKind.STRING, "_textArea": FieldKind.STRING, "_longText": FieldKind.STRING,
    "_eMailAddress": FieldKind.STRING, "_phoneNumber": FieldKind.STRING, "_hyperlink": FieldKind.STRING,
    "_decimalNumber": FieldKind.DOUBLE, "_currency": FieldKind.DOUBLE, "_percent": FieldKind.DOUBLE,
    "_integerNumber": FieldKind.LONG, "_checkBox": FieldKind.BOOLEAN, "_date": FieldKind.DATETIME,
    "_dateTime": FieldKind.DATETIME, "_listRecord": FieldKind.REF,
}
REF_TYPES: dict[FieldKind, str] = {
    FieldKind.STRING: "StringCustomFieldRef", FieldKind.DOUBLE: "DoubleCustomFieldRef",
    FieldKind.LONG: "LongCustomFieldRef", FieldKind.BOOLEAN: "BooleanCustomFieldRef",
    FieldKind.DATETIME: "DateCustomFieldRef", FieldKind.REF: "SelectCustomFieldRef",
}


@dataclass(frozen=True)
class CustomList:
    """A custom list: its script id, internal id and values (internal id → name)."""

    script_id: str
    internal_id: str
    values: dict[str, str]


@dataclass(frozen=True)
class CustomField:
    """One custom field of a custom record type."""

    script_id: str
    internal_id: str
    label: str
    field_type: str
    select: str | None = None  # a ``_listRecord`` field's record type (``customer``) or custom list script id
    mandatory: bool = False

    @property
    def kind(self) -> FieldKind:
        """How the field's value is stored."""
        return FIELD_KINDS[self.field_type]


@dataclass(frozen=True)
class CustomRecordType:
    """A custom record type: its ids, name and custom fields."""

    script_id: str
    internal_id: str
    record_name: str
    fields: tuple[CustomField, ...]
    by_script_id: dict[str, CustomField] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_script_id", {f.script_id: f for f in self.fields})


CUSTOM_LISTS: tuple[CustomList, ...] = (
    CustomList("customlist_contract_status", "11", {"1": "Draft", "2": "Active", "3": "Expired", "4": "Cancelled"}),
)
CUSTOM_RECORD_TYPES: tuple[CustomRecordType, ...] = (
    CustomRecordType("customrecord_contract", "101", "Contract", (
        CustomField("custrecord_contract_customer", "1001", "Customer", "_listRecord", "customer", mandatory=True),
        CustomField("custrecord_contract_status", "1002", "Status", "_listRecord", "customlist_contract_status"),
        CustomField("custrecord_contract_start", "1003", "Start Date", "_date"),
        CustomField("custrecord_contract_end", "1004", "End Date", "_date"),
        CustomField("custrecord_contract_currency", "1005", "Currency", "_listRecord", "currency"),
        CustomField("custrecord_contract_sales_rep", "1006", "Sales Rep", "_listRecord", "employee"),
        CustomField("custrecord_contract_value", "1007", "Contract Value", "_currency"),
        CustomField("custrecord_contract_memo", "1008", "Memo", "_textArea"),
    )),
    CustomRecordType("customrecord_tandem_pairing", "102", "Tandem Pairing", (
        CustomField("custrecord_tandem_crm_org_id", "1101", "Salesforce Org ID", "_freeFormText", mandatory=True),
        CustomField("custrecord_tandem_crm_environment", "1102", "Salesforce Environment", "_freeFormText"),
        CustomField("custrecord_tandem_connection", "1103", "Tandem Connection", "_freeFormText"),
        CustomField("custrecord_tandem_claimed_at", "1104", "Claimed At", "_dateTime"),
    )),
)


@cache
def custom_lists() -> dict[str, CustomList]:
    """The account's custom lists by script id."""
    return {c.script_id: c for c in CUSTOM_LISTS}


@cache
def custom_record_types() -> dict[str, CustomRecordType]:
    """The account's custom record types by script id."""
    return {t.script_id: t for t in CUSTOM_RECORD_TYPES}


def custom_record_type(key: str) -> CustomRecordType | None:
    """The custom record type with internal id or script id ``key`` (``101``, ``customrecord_contract``)."""
    for record_type in CUSTOM_RECORD_TYPES:
        if key in (record_type.internal_id, record_type.script_id):
            return record_type
    return None


@cache
def custom_record_specs() -> dict[str, RecordSpec]:
    """One :class:`RecordSpec` per custom record type, keyed by its script id: the body fields, then the custom
    fields (stored flat under their script ids, written in ``customFieldList``). A field on a custom list has the
    list's value names as its ``choices``."""
    specs: dict[str, RecordSpec] = {}
    for record_type in CUSTOM_RECORD_TYPES:
        lists = custom_lists()
        custom = tuple(
            FieldSpec(f.script_id, f.kind, targets=(f.select,) if f.select else (),
                      choices=frozenset(lists[f.select].values.values()) if f.select in lists else frozenset())
            for f in record_type.fields
        )
        required = frozenset({"name", *(f.script_id for f in record_type.fields if f.mandatory)})
        specs[record_type.script_id] = RecordSpec(
            record_type.script_id, "CustomRecord", "setupCustom", BODY_FIELDS + custom, required, "name",
            custom_type=record_type,
        )
    return specs


def list_value(ref: dict[str, str], script_id: str) -> dict[str, str] | None:
    """The value of custom list ``script_id`` a ``ListOrRecordRef`` names by internal id; ``None`` when it has none.

    Returns:
        ``internalId``, ``name`` and ``typeId`` (the list's internal id), as a read returns the value.
    """
    custom_list = custom_lists()[script_id]
    key = ref.get("internalId", "")
    if key not in custom_list.values:
        return None
    return {"internalId": key, "name": custom_list.values[key], "typeId": custom_list.internal_id}
