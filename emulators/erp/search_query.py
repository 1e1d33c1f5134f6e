"""A ``searchRecord`` turned into the query over the emulator's records: the record types, SQL conditions and
parameters of its basic criteria, its custom-field criteria and its joins.

A search names a basic search type (``<platformMsgs:searchRecord xsi:type="platformCommon:CustomerSearchBasic">``)
or a ``<Type>Search`` with ``basic`` and joins (``<listRel:CustomerSearch><listRel:basic>…<listRel:contactJoin>…``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from emulators.erp.criteria import SearchStatusError, criterion_sql, custom_field_sql, type_filter
from emulators.erp.custom_records import custom_record_type
from emulators.erp.joins import JOINS, join_sql, unheld_join_fault
from emulators.erp.requests_xml import local, xsi_type
from emulators.erp.schema import (
    ITEM_SUBTYPES,
    SearchFamily,
    search_families,
    search_field_kinds,
    search_wrappers,
)
from emulators.erp.soapfaults import ClientFault

CUSTOM_SEARCH = "CustomRecordSearchBasic"


@dataclass
class SearchQuery:
    """What a search reads: records of ``record_types`` matching every condition of ``where``."""

    basic: str  # the basic search type (``TransactionSearchBasic``), which names the result set
    record_types: tuple[str, ...]
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def basic_criteria(family: SearchFamily, basic: etree._Element, now: datetime, what: str) -> SearchQuery:
    """The query of one basic search's criteria (a ``searchRecord``'s, a ``basic``'s or a join's).

    Args:
        family: the basic search type's family.
        basic: the element holding the criteria.
        now: the emulator's time (for predefined dates).
        what: the criteria's name in messages (``CustomerSearch.contactJoin``).

    Raises:
        SearchStatusError: an unknown custom record type or custom field, a custom record search without recType.
        ClientFault: a field the basic search type does not have, or an operator or value it does not allow.
    """
    record_types = set(family.record_types)
    query = SearchQuery(family.basic, ())
    field_kinds = search_field_kinds()
    custom_fields: list[etree._Element] = []
    for criterion in _elements(basic):
        name = local(criterion)
        at = f"{what}.{name}"
        kind = field_kinds.get((family.basic, name))
        if kind is None:
            raise ClientFault(f"{family.basic} has no search field {name!r}.")
        if name == "customFieldList":
            custom_fields += _elements(criterion)
        elif name == "type" and family.by_type:
            exclude, values = type_filter(criterion, at)
            unknown = [v for v in values if v not in family.by_type]
            if unknown:
                raise ClientFault(f"{at}: {unknown[0]!r} is not a type the emulator has in this family "
                                  f"(it has {', '.join(sorted(family.by_type))}).")
            chosen = {t for v in values for t in family.by_type[v]}
            record_types = record_types - chosen if exclude else record_types & chosen
        elif name == "recType" and family.basic == CUSTOM_SEARCH:
            key = criterion.get("internalId") or criterion.get("scriptId") or ""
            found = custom_record_type(key)
            if found is None:
                raise SearchStatusError("INVALID_CSTM_RCRD_TYPE_KEY", f"Invalid custom record type key {key}.")
            record_types = {found.script_id}
        elif name == "subType" and family.basic == "ItemSearchBasic":
            exclude, values = type_filter(criterion, at)
            chosen = {t for v in values for t in ITEM_SUBTYPES.get(v, ())}
            inventory = {"inventoryItem"}  # inventory items have no subtype
            record_types = (record_types - chosen) if exclude else record_types & (chosen | inventory)
        else:
            condition, values_ = criterion_sql(kind, name, criterion, at, now)
            query.where.append(condition)
            query.params += values_
    if family.basic == CUSTOM_SEARCH and not record_types:
        raise SearchStatusError("USER_ERROR", "A custom record search needs a recType.")
    for custom in custom_fields:  # after the loop: recType chooses the custom fields in scope
        condition, values_ = custom_field_sql(custom, record_types, f"{what}.customFieldList", now)
        query.where.append(condition)
        query.params += values_
    query.record_types = tuple(sorted(record_types))
    return query


def compile_search(search_record: etree._Element, now: datetime) -> SearchQuery:
    """The query of a ``searchRecord``: a basic search type, or a ``<Type>Search`` with ``basic`` and joins.

    Raises:
        SearchStatusError: see :func:`basic_criteria`.
        SoapFault: ``WS_INVALID_SEARCH_OPERATN`` for a join NetSuite defines that the emulator holds no data for.
        ClientFault: an unknown search type or element, or criteria the types do not allow.
    """
    namespace, type_name = xsi_type(search_record)
    families = search_families()
    family = families.get(type_name)
    if family is not None:
        return basic_criteria(family, search_record, now, type_name)
    wrapper = search_wrappers().get((namespace, type_name))
    if wrapper is None:
        raise ClientFault(f"Unknown search type {{{namespace}}}{type_name}.")
    basic_type, declared_joins = wrapper
    basic: etree._Element | None = None
    joins: list[etree._Element] = []
    for child in _elements(search_record):
        name = local(child)
        if name == "basic":
            basic = child
        elif name in declared_joins:
            if (type_name, name) not in JOINS:
                raise unheld_join_fault(type_name, name)
            joins.append(child)
        else:
            raise ClientFault(f"{type_name} has no element {name!r}.")
    query = basic_criteria(families[basic_type], basic if basic is not None else etree.Element("basic"), now,
                           basic_type)
    for element in joins:
        name = local(element)
        if not _elements(element):
            continue  # a join without criteria does not narrow the search
        join = JOINS[(type_name, name)]
        joined = basic_criteria(families[join.basic], element, now, f"{type_name}.{name}")
        condition, values = join_sql(join, joined.record_types, joined.where, joined.params)
        query.where.append(condition)
        query.params += values
    return query
