"""HubSpot's standard CRM objects as the emulator knows them: names, type ids, built-in properties, the
properties returned by default, and the default association types (v4) between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PropertySpec:
    """One property definition, as ``/crm/v3/properties`` describes it."""

    name: str
    label: str
    type: str = "string"  # string, number, bool, enumeration, date, datetime
    field_type: str = "text"
    group_name: str = ""
    description: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    has_unique_value: bool = False
    hubspot_defined: bool = True
    read_only: bool = False
    calculated: bool = False
    created_at: str = "2019-08-06T02:41:08.584Z"

    def to_json(self) -> dict[str, Any]:
        """The property as the properties API returns it."""
        return {
            "name": self.name, "label": self.label, "type": self.type, "fieldType": self.field_type,
            "description": self.description, "groupName": self.group_name,
            "options": [{"label": label, "value": value, "displayOrder": index, "hidden": False}
                        for index, (value, label) in enumerate(self.options)],
            "displayOrder": -1, "calculated": self.calculated, "externalOptions": False,
            "hasUniqueValue": self.has_unique_value, "hidden": False, "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {"archivable": not self.hubspot_defined, "readOnlyDefinition": self.hubspot_defined,
                                     "readOnlyValue": self.read_only},
            "formField": not self.read_only, "createdAt": self.created_at, "updatedAt": self.created_at,
            "archived": False, "dataSensitivity": "non_sensitive",
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], created_at: str) -> PropertySpec:
        """A custom property from a create request (already validated)."""
        return cls(
            name=str(data["name"]), label=str(data.get("label") or data["name"]), type=str(data["type"]),
            field_type=str(data["fieldType"]), group_name=str(data.get("groupName") or ""),
            description=str(data.get("description") or ""),
            options=tuple((str(o["value"]), str(o.get("label", o["value"]))) for o in data.get("options") or []),
            has_unique_value=bool(data.get("hasUniqueValue", False)), hubspot_defined=False, created_at=created_at,
        )


@dataclass(frozen=True)
class ObjectType:
    """A standard CRM object: its path name, type id, properties and what a read returns by default."""

    name: str  # plural path name: contacts
    singular: str  # contact
    type_id: str  # 0-1
    created_property: str
    modified_property: str
    default_properties: tuple[str, ...]
    properties: tuple[PropertySpec, ...]
    required: tuple[str, ...] = ()
    unique_email: bool = False
    label: str = field(default="")


def _p(name: str, label: str, type_: str = "string", field_type: str = "text", **kw: Any) -> PropertySpec:
    return PropertySpec(name, label, type_, field_type, **kw)


def _system(created: str, modified: str, group: str) -> tuple[PropertySpec, ...]:
    return (
        _p("hs_object_id", "Record ID", "number", "number", group_name=group, read_only=True),
        _p(created, "Create Date", "datetime", "date", group_name=group, read_only=True),
        _p(modified, "Last Modified Date", "datetime", "date", group_name=group, read_only=True),
        _p("hubspot_owner_id", "Owner", "enumeration", "select", group_name=group),
    )


LIFECYCLE = tuple((v, v.replace("marketingqualifiedlead", "Marketing Qualified Lead").title()) for v in (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist",
    "other"))

CONTACTS = ObjectType(
    "contacts", "contact", "0-1", "createdate", "lastmodifieddate",
    ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    (*_system("createdate", "lastmodifieddate", "contactinformation"),
     _p("email", "Email", field_type="text", group_name="contactinformation"),
     _p("firstname", "First Name", group_name="contactinformation"),
     _p("lastname", "Last Name", group_name="contactinformation"),
     _p("phone", "Phone Number", field_type="phonenumber", group_name="contactinformation"),
     _p("mobilephone", "Mobile Phone Number", field_type="phonenumber", group_name="contactinformation"),
     _p("jobtitle", "Job Title", group_name="contactinformation"),
     _p("company", "Company Name", group_name="contactinformation"),
     _p("website", "Website URL", group_name="contactinformation"),
     _p("address", "Street Address", group_name="contactinformation"),
     _p("city", "City", group_name="contactinformation"),
     _p("country", "Country/Region", group_name="contactinformation"),
     _p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group_name="contactinformation",
        options=LIFECYCLE),
     _p("associatedcompanyid", "Primary Associated Company ID", "number", "number",
        group_name="contactinformation")),
    unique_email=True,
)

COMPANIES = ObjectType(
    "companies", "company", "0-2", "createdate", "hs_lastmodifieddate",
    ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    (*_system("createdate", "hs_lastmodifieddate", "companyinformation"),
     _p("name", "Company name", group_name="companyinformation"),
     _p("domain", "Company Domain Name", group_name="companyinformation"),
     _p("website", "Website URL", group_name="companyinformation"),
     _p("phone", "Phone Number", field_type="phonenumber", group_name="companyinformation"),
     _p("address", "Street Address", group_name="companyinformation"),
     _p("city", "City", group_name="companyinformation"),
     _p("country", "Country/Region", group_name="companyinformation"),
     _p("industry", "Industry", group_name="companyinformation"),
     _p("description", "Description", field_type="textarea", group_name="companyinformation"),
     _p("numberofemployees", "Number of Employees", "number", "number", group_name="companyinformation"),
     _p("annualrevenue", "Annual Revenue", "number", "number", group_name="companyinformation"),
     _p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group_name="companyinformation",
        options=LIFECYCLE)),
)

PRODUCTS = ObjectType(
    "products", "product", "0-7", "createdate", "hs_lastmodifieddate",
    ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name", "price"),
    (*_system("createdate", "hs_lastmodifieddate", "productinformation"),
     _p("name", "Name", group_name="productinformation"),
     _p("description", "Description", field_type="textarea", group_name="productinformation"),
     _p("price", "Unit price", "number", "number", group_name="productinformation"),
     _p("hs_sku", "SKU", group_name="productinformation"),
     _p("hs_cost_of_goods_sold", "Unit cost", "number", "number", group_name="productinformation"),
     _p("hs_product_type", "Product Type", "enumeration", "select", group_name="productinformation",
        options=(("inventory", "Inventory"), ("non_inventory", "Non-inventory"), ("service", "Service"))),
     _p("hs_recurring_billing_period", "Term", group_name="productinformation")),
)

TASK_STATUS = (("NOT_STARTED", "Not started"), ("IN_PROGRESS", "In progress"), ("WAITING", "Waiting"),
               ("COMPLETED", "Completed"), ("DEFERRED", "Deferred"))
TASKS = ObjectType(
    "tasks", "task", "0-27", "hs_createdate", "hs_lastmodifieddate",
    ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    (*_system("hs_createdate", "hs_lastmodifieddate", "task"),
     _p("hs_timestamp", "Due date", "datetime", "date", group_name="task"),
     _p("hs_task_subject", "Task Title", group_name="task"),
     _p("hs_task_body", "Notes", field_type="textarea", group_name="task"),
     _p("hs_task_status", "Task Status", "enumeration", "select", group_name="task", options=TASK_STATUS),
     _p("hs_task_priority", "Priority", "enumeration", "select", group_name="task",
        options=(("NONE", "None"), ("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High"))),
     _p("hs_task_type", "Task Type", "enumeration", "select", group_name="task",
        options=(("TODO", "To-do"), ("CALL", "Call"), ("EMAIL", "Email"))),
     _p("hs_task_completion_date", "Completed at", "datetime", "date", group_name="task", read_only=True)),
    required=("hs_timestamp",),
)

DEALS = ObjectType(
    "deals", "deal", "0-3", "createdate", "hs_lastmodifieddate",
    ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id",
     "pipeline"),
    (*_system("createdate", "hs_lastmodifieddate", "dealinformation"),
     _p("dealname", "Deal Name", group_name="dealinformation"),
     _p("amount", "Amount", "number", "number", group_name="dealinformation"),
     _p("closedate", "Close Date", "datetime", "date", group_name="dealinformation"),
     _p("pipeline", "Pipeline", "enumeration", "select", group_name="dealinformation",
        options=(("default", "Sales Pipeline"),)),
     _p("dealstage", "Deal Stage", "enumeration", "radio", group_name="dealinformation",
        options=tuple((v, v) for v in ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
                                       "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"))),
     _p("deal_currency_code", "Currency", "enumeration", "select", group_name="dealinformation",
        options=(("USD", "US Dollar"), ("EUR", "Euro"), ("GBP", "British Pound"), ("CAD", "Canadian Dollar")))),
    required=("dealname", "dealstage", "pipeline"),
)

LINE_ITEMS = ObjectType(
    "line_items", "line_item", "0-8", "createdate", "hs_lastmodifieddate",
    ("createdate", "hs_lastmodifieddate", "hs_object_id", "name", "price", "quantity"),
    (*_system("createdate", "hs_lastmodifieddate", "lineiteminformation"),
     _p("name", "Name", group_name="lineiteminformation"),
     _p("quantity", "Quantity", "number", "number", group_name="lineiteminformation"),
     _p("price", "Unit price", "number", "number", group_name="lineiteminformation"),
     _p("amount", "Net price", "number", "number", group_name="lineiteminformation"),
     _p("hs_product_id", "Product ID", "number", "number", group_name="lineiteminformation"),
     _p("hs_sku", "SKU", group_name="lineiteminformation")),
)

OBJECT_TYPES: dict[str, ObjectType] = {t.name: t for t in (CONTACTS, COMPANIES, DEALS, PRODUCTS, LINE_ITEMS, TASKS)}
_ALIASES = {alias: t.name for t in OBJECT_TYPES.values() for alias in (t.name, t.singular, t.type_id)}


def resolve_object_type(name: str) -> ObjectType | None:
    """The object type a path names: ``contacts``, ``contact`` or ``0-1`` (case-insensitive); ``None`` if unknown."""
    canonical = _ALIASES.get(name.lower())
    return OBJECT_TYPES[canonical] if canonical else None


#: HubSpot-defined association type ids, (from, to) -> (unlabeled default, primary or None), per HubSpot's v4 table.
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, int | None]] = {
    ("contacts", "companies"): (279, 1), ("companies", "contacts"): (280, 2),
    ("deals", "contacts"): (3, None), ("contacts", "deals"): (4, None),
    ("deals", "companies"): (341, 5), ("companies", "deals"): (342, 6),
    ("line_items", "deals"): (20, None), ("deals", "line_items"): (19, None),
    ("tasks", "contacts"): (204, None), ("contacts", "tasks"): (203, None),
    ("tasks", "companies"): (192, None), ("companies", "tasks"): (191, None),
    ("tasks", "deals"): (216, None), ("deals", "tasks"): (215, None),
}
PRIMARY_LABEL = "Primary"


def association_label(from_type: str, to_type: str, type_id: int) -> str | None:
    """The label of a HubSpot-defined association type (``Primary`` or none)."""
    pair = ASSOCIATION_TYPES.get((from_type, to_type))
    return PRIMARY_LABEL if pair and pair[1] == type_id else None


def association_type_name(from_type: ObjectType, to_type: ObjectType) -> str:
    """The v3 name of the unlabeled association, e.g. ``contact_to_company``."""
    return f"{from_type.singular}_to_{to_type.singular}"
