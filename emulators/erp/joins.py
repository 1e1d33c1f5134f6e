"""Search joins: which ``<Type>Search`` joins the emulator evaluates, and each as a SQL condition.

A ``<Type>Search`` carries its own record's criteria in ``basic`` and, per join, criteria on related records
(``<listRel:CustomerSearch><listRel:contactJoin>`` holds a ``ContactSearchBasic``). A record matches when its
basic criteria match and, for each join, *some* related record matches the join's criteria (NetSuite joins the
related records as rows; a search returns each record once). A join element without criteria adds no condition.

The join names and their SearchBasic types are NetSuite's (its 2023.2 XSDs: ``CustomerSearch``,
``TransactionSearch`` ...). The emulator evaluates the joins over relations it holds data for — a reference field
(``TransactionSearch.customerJoin``: the transaction's ``entity``), a reference back to the record
(``CustomerSearch.contactJoin``: contacts whose ``company`` is the customer) or a line list
(``TransactionSearch.itemJoin``: the items on ``itemList``). Every other join NetSuite defines answers
``WS_INVALID_SEARCH_OPERATN`` naming it (see :func:`unheld_join_fault`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from emulators.erp.soapfaults import SoapFault


class Relation(StrEnum):
    """How a joined record relates to the searched one."""

    REF = "ref"  # the searched record's field references the joined record
    BACK = "back"  # the joined record's field references the searched record
    LINES = "lines"  # a line of the searched record's list references the joined record
    BACK_LINES = "backLines"  # a line of the joined record's list references the searched record


@dataclass(frozen=True)
class Join:
    """One join the emulator evaluates: the joined SearchBasic type and the relation over stored fields.

    ``field`` is the reference field (``entity``), or the line list (``itemList``) with ``line_field`` the line's
    reference (``item``).
    """

    basic: str
    relation: Relation
    field: str
    line_field: str = ""


#: ``(<Type>Search, join element)`` → the join, for the joins the emulator holds data for.
JOINS: dict[tuple[str, str], Join] = {
    ("CustomerSearch", "contactJoin"): Join("ContactSearchBasic", Relation.BACK, "company"),
    ("CustomerSearch", "salesRepJoin"): Join("EmployeeSearchBasic", Relation.REF, "salesRep"),
    ("CustomerSearch", "taskJoin"): Join("TaskSearchBasic", Relation.BACK, "company"),
    ("CustomerSearch", "transactionJoin"): Join("TransactionSearchBasic", Relation.BACK, "entity"),
    ("ContactSearch", "customerJoin"): Join("CustomerSearchBasic", Relation.REF, "company"),
    ("ContactSearch", "taskJoin"): Join("TaskSearchBasic", Relation.BACK, "contact"),
    ("TransactionSearch", "createdFromJoin"): Join("TransactionSearchBasic", Relation.REF, "createdFrom"),
    ("TransactionSearch", "customerJoin"): Join("CustomerSearchBasic", Relation.REF, "entity"),
    ("TransactionSearch", "customerMainJoin"): Join("CustomerSearchBasic", Relation.REF, "entity"),
    ("TransactionSearch", "itemJoin"): Join("ItemSearchBasic", Relation.LINES, "itemList", "item"),
    ("TransactionSearch", "locationJoin"): Join("LocationSearchBasic", Relation.REF, "location"),
    ("TransactionSearch", "salesRepJoin"): Join("EmployeeSearchBasic", Relation.REF, "salesRep"),
    ("ItemSearch", "inventoryLocationJoin"): Join("LocationSearchBasic", Relation.LINES, "locationsList", "locationId"),
    ("ItemSearch", "transactionJoin"): Join("TransactionSearchBasic", Relation.BACK_LINES, "itemList", "item"),
    ("TaskSearch", "assignedJoin"): Join("EmployeeSearchBasic", Relation.REF, "assigned"),
    ("TaskSearch", "companyCustomerJoin"): Join("CustomerSearchBasic", Relation.REF, "company"),
    ("TaskSearch", "contactJoin"): Join("ContactSearchBasic", Relation.REF, "contact"),
}


def evaluated_joins(search_type: str) -> list[str]:
    """The join elements of ``search_type`` the emulator evaluates, sorted."""
    return sorted(name for (owner, name) in JOINS if owner == search_type)


def unheld_join_fault(search_type: str, name: str) -> SoapFault:
    """The fault for a join NetSuite defines on ``search_type`` that the emulator holds no data for."""
    held = evaluated_joins(search_type)
    evaluated = f"it evaluates {', '.join(held)}" if held else "it evaluates no join of this search"
    return SoapFault(
        "WS_INVALID_SEARCH_OPERATN",
        f"{search_type}.{name}: the emulated account holds no records for this join; {evaluated}.",
    )


def _ref_id(expr: str) -> str:
    return f"CAST(json_extract({expr}, '$.internalId') AS INTEGER)"


def join_sql(join: Join, record_types: tuple[str, ...], where: list[str], params: list[Any]) -> tuple[str, list[Any]]:
    """The condition on the searched record (the outer query's unaliased ``records``) that some record of
    ``record_types`` matching ``where`` is related to it by ``join``.

    The joined records are read in a subquery over ``records`` whose unqualified column names (those ``where``
    uses) resolve to the joined record; field paths come from :data:`JOINS`, never from a request.
    """
    marks = ",".join("?" * len(record_types))
    clause = "".join(f" AND {condition}" for condition in where)
    joined = f"SELECT {{}} FROM records WHERE type IN ({marks}){clause}"
    values = [*record_types, *params]
    if join.relation is Relation.REF:
        return f"{_ref_id(f'json_extract(fields, {_path(join.field)})')} IN ({joined.format('internal_id')})", values
    if join.relation is Relation.BACK:
        column = _ref_id(f"json_extract(fields, {_path(join.field)})")
        return f"internal_id IN ({joined.format(column)})", values
    line_ref = _ref_id(f"json_extract(line.value, {_path(join.line_field)})")
    if join.relation is Relation.LINES:
        return (f"EXISTS (SELECT 1 FROM json_each(records.fields, {_path(join.field)}) AS line "
                f"WHERE {line_ref} IN ({joined.format('internal_id')}))"), values
    return (f"internal_id IN (SELECT {line_ref} FROM ({joined.format('fields AS joined_fields')}) AS joined, "
            f"json_each(joined.joined_fields, {_path(join.field)}) AS line)"), values


def _path(name: str) -> str:
    return f"'$.{name}'"
