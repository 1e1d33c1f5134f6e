"""Turning a record's JSON into checked field values, with Salesforce's error codes and messages.

Type mismatches fail the whole request (``JSON_PARSER_ERROR``, as Salesforce's deserialiser does);
everything else (read-only fields, picklists, lengths, ranges, required fields) fails one record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from emulators.salesforce.errors import RecordError, SalesforceError
from emulators.salesforce.schema import FieldDef, ObjectDef
from emulators.salesforce.storage_format import format_datetime, parse_datetime

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
JAVA_TYPES = {"int": "int", "double": "double", "currency": "double", "percent": "double", "boolean": "boolean",
              "date": "date", "datetime": "datetime"}
#: The dates a Salesforce field holds ("Minimum and Maximum Dates", SOQL and SOSL reference), as stored text.
EARLIEST_DATE, LATEST_DATE = "1700-01-01", "4000-12-31"
TEXT_FIELD_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone", "url",
                              "id", "reference"})


def _token(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_STRING"


def deserialize_error(field: FieldDef, value: Any) -> SalesforceError:
    """The request-level ``JSON_PARSER_ERROR`` for a value of the wrong JSON type."""
    java = JAVA_TYPES.get(field.type, "String")
    shown = value if not isinstance(value, dict | list) else ""
    return SalesforceError(
        400, "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {java} from {_token(value)} value {shown} "
        "or request may be missing a required field at [line:1, column:1]",
    )


def _text(field: FieldDef, value: Any) -> Any:
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise deserialize_error(field, value)


def _number(field: FieldDef, value: Any) -> Any:
    if isinstance(value, bool | dict | list):
        raise deserialize_error(field, value)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            number = Decimal(value.strip())
        except InvalidOperation as exc:
            raise deserialize_error(field, value) from exc
        if not number.is_finite():
            raise deserialize_error(field, value)
    else:
        number = Decimal(str(value))
    if field.type == "int":
        if number != number.to_integral_value():
            raise deserialize_error(field, value)
        return int(number)
    return float(round(number, field.scale))


def _boolean(field: FieldDef, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise deserialize_error(field, value)


def _date(field: FieldDef, value: Any) -> Any:
    if not isinstance(value, str):
        raise deserialize_error(field, value)
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError as exc:
        raise deserialize_error(field, value) from exc


def _datetime(field: FieldDef, value: Any) -> Any:
    if not isinstance(value, str):
        raise deserialize_error(field, value)
    if not value:
        return None
    try:
        return format_datetime(parse_datetime(value))
    except ValueError as exc:
        raise deserialize_error(field, value) from exc


CONVERTERS: dict[str, Callable[[FieldDef, Any], Any]] = {
    **{t: _text for t in TEXT_FIELD_TYPES},
    "int": _number, "double": _number, "currency": _number, "percent": _number,
    "boolean": _boolean, "date": _date, "datetime": _datetime,
}


def convert(field: FieldDef, value: Any) -> Any:
    """The JSON ``value`` as the Python value stored for ``field`` (``None`` for null or empty text).

    Raises:
        SalesforceError: ``JSON_PARSER_ERROR`` when the JSON type cannot hold the field's type.
    """
    if value is None:
        return False if field.type == "boolean" else None
    return CONVERTERS[field.type](field, value)


def unknown_field(obj: ObjectDef, name: str) -> SalesforceError:
    """``INVALID_FIELD`` for a field the object does not have."""
    return SalesforceError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")


def parse_fields(obj: ObjectDef, data: dict[str, Any], *, allow_id: bool) -> dict[str, Any]:
    """Map ``data``'s keys to the object's field names and convert each value; skip ``attributes``.

    Raises:
        SalesforceError: ``INVALID_FIELD`` for an unknown field, ``JSON_PARSER_ERROR`` for a wrong type.
    """
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "attributes":
            continue
        field = obj.field(key)
        if field is None:
            raise unknown_field(obj, key)
        if field.name == "Id" and allow_id:
            values["Id"] = value
            continue
        values[field.name] = convert(field, value)
    return values


def check_values(obj: ObjectDef, values: dict[str, Any], *, creating: bool) -> RecordError | None:
    """Check one record's converted values: writable fields, picklists, lengths, ranges, e-mail.

    Returns:
        The first problem as a :class:`RecordError`, or ``None``.
    """
    readonly = [
        name for name in values
        if name != "Id" and not (obj.fields[name].createable if creating else obj.fields[name].updateable)
    ]
    if readonly:
        return RecordError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(readonly)}. Please check the security settings of this "
            "field and verify that it is read/write for your profile or permission set.",
            readonly,
        )
    for name, value in values.items():
        if value is None or name == "Id":
            continue
        field = obj.fields[name]
        if field.type == "picklist" and field.restricted_picklist and value not in field.picklist_values:
            return RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{field.label}: bad value for restricted picklist field: {value}", [name],
            )
        if field.type in TEXT_FIELD_TYPES and field.type not in {"id", "reference"} and len(value) > field.length:
            return RecordError(
                "STRING_TOO_LONG", f"{field.label}: data value too large: {value[:field.length]}... "
                f"(max length={field.length})", [name],
            )
        if field.type == "email" and not EMAIL.match(value):
            return RecordError("INVALID_EMAIL_ADDRESS", f"{field.label}: invalid email address: {value}", [name])
        if field.type in {"date", "datetime"} and not EARLIEST_DATE <= value[:10] <= LATEST_DATE:
            return RecordError("FIELD_INTEGRITY_EXCEPTION", f"{field.label}: invalid date: {value}", [name])
        if field.type in {"int", "double", "currency", "percent"} and field.precision:
            digits = len(str(int(abs(value))))
            if digits > field.precision - field.scale:
                return RecordError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{field.label}: value outside of valid range on numeric field: {value}", [name],
                )
    return None


def missing_required(obj: ObjectDef, merged: dict[str, Any]) -> RecordError | None:
    """``REQUIRED_FIELD_MISSING`` when a required field of the merged record is empty."""
    missing = [f.name for f in obj.fields.values() if f.required and merged.get(f.name) in (None, "")]
    if missing:
        return RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
    return None


def apply_defaults(obj: ObjectDef, values: dict[str, Any]) -> None:
    """Fill the defaults of createable fields the record does not give."""
    for field in obj.fields.values():
        if field.createable and field.name not in values and field.default is not None:
            values[field.name] = field.default


def apply_derivations(obj: ObjectDef, merged: dict[str, Any]) -> None:
    """Compute derived fields (``Name`` from first and last name, ``IsClosed`` from ``Status``) in place."""
    for field in obj.fields.values():
        rule = field.derived
        if rule is None:
            continue
        if rule.rule == "full_name":
            merged[field.name] = " ".join(p for p in (merged.get("FirstName"), merged.get("LastName")) if p) or None
        elif rule.rule == "picklist_in" and rule.field:
            merged[field.name] = merged.get(rule.field) in rule.values
