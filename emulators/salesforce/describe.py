"""The describe resources: the ``sobjects`` list, an object's basic info and its full describe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulators.salesforce.schema import FieldDef, ObjectDef, Schema

SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int", "double": "xsd:double",
    "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date", "datetime": "xsd:dateTime",
}
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone", "url", "id", "reference"})


def _urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def object_summary(obj: ObjectDef, version: str) -> dict[str, Any]:
    """One entry of the ``sobjects`` list (also ``objectDescribe`` of the basic-info resource)."""
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": not obj.custom,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": obj.createable,
        "mergeable": obj.name in {"Account", "Contact"},
        "mruEnabled": obj.createable,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": obj.createable,
        "triggerable": obj.createable,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": _urls(obj, version),
    }


def list_objects(schema: Schema, version: str) -> dict[str, Any]:
    """``GET sobjects``."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [object_summary(o, version) for o in sorted(schema.objects.values(), key=lambda o: o.name)],
    }


def basic_info(obj: ObjectDef, version: str) -> dict[str, Any]:
    """``GET sobjects/X``: the summary and (empty) recent items."""
    return {"objectDescribe": object_summary(obj, version), "recentItems": []}


ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country", "StateCode", "CountryCode", "Latitude",
                 "Longitude", "GeocodeAccuracy")
ADDRESS_PREFIXES = {"Account": ("Billing", "Shipping"), "Contact": ("Mailing", "Other"), "Lead": ("",),
                    "User": ("",), "Order": ("Billing", "Shipping"), "Organization": ("",)}
NAME_PARTS = frozenset({"FirstName", "LastName", "Salutation", "MiddleName", "Suffix"})
NAME_COMPOUND_OBJECTS = frozenset({"Contact", "Lead", "User"})


def compound_field_name(obj: ObjectDef, f: FieldDef) -> str | None:
    """The compound field ``f`` is a component of (``BillingStreet`` → ``BillingAddress``,
    ``Contact.FirstName`` → ``Name``), or ``None``."""
    if obj.name in NAME_COMPOUND_OBJECTS and f.name in NAME_PARTS:
        return "Name"
    for prefix in ADDRESS_PREFIXES.get(obj.name, ()):
        if f.name.startswith(prefix) and f.name[len(prefix):] in ADDRESS_PARTS:
            return f"{prefix}Address" if prefix else "Address"
    return None


#: The keys of a compound address value in REST answers (alphabetical, as Salesforce writes them); ``stateCode``
#: and ``countryCode`` only where the org has those fields (state and country picklists).
ADDRESS_VALUE_KEYS = ("city", "country", "geocodeAccuracy", "latitude", "longitude", "postalCode", "state", "street")
OPTIONAL_ADDRESS_KEYS = frozenset({"stateCode", "countryCode"})


@dataclass(frozen=True)
class CompoundField:
    """A compound address field (``BillingAddress``): read-only, selectable through REST, made of its components.

    ``components`` pairs each address key (``street``, ``postalCode``...) with the component field the
    object has (``BillingStreet``...), in describe order.
    """

    name: str
    label: str
    components: tuple[tuple[str, FieldDef], ...]

    def keys(self) -> tuple[str, ...]:
        """The keys of its REST value: the eight address keys, plus ``stateCode``/``countryCode`` when present."""
        present = {key for key, _ in self.components}
        return tuple(sorted({*ADDRESS_VALUE_KEYS, *(present & OPTIONAL_ADDRESS_KEYS)}))


def compound_fields(obj: ObjectDef) -> list[CompoundField]:
    """The compound address fields of ``obj`` (one per address prefix whose component fields it has)."""
    compounds = []
    for prefix in ADDRESS_PREFIXES.get(obj.name, ()):
        components = []
        for f in obj.fields.values():
            part = f.name[len(prefix):] if f.name.startswith(prefix) else ""
            if part in ADDRESS_PARTS:
                components.append((part[0].lower() + part[1:], f))
        if components:
            name = f"{prefix}Address" if prefix else "Address"
            compounds.append(CompoundField(name, f"{prefix} Address".strip(), tuple(components)))
    return compounds


def compound_field(obj: ObjectDef, name: str) -> CompoundField | None:
    """The compound address field ``name`` of ``obj`` (case-insensitive), or ``None``."""
    return next((c for c in compound_fields(obj) if c.name.lower() == name.lower()), None)


def describe_compound(compound: CompoundField) -> dict[str, Any]:
    """A compound address field in ``describe``: type ``address``, read-only, not sortable or groupable."""
    return {
        "aggregatable": False, "aiPredictionField": False, "autoNumber": False, "byteLength": 0,
        "calculated": False, "calculatedFormula": None, "cascadeDelete": False, "caseSensitive": False,
        "compoundFieldName": None, "controllerName": None, "createable": False, "custom": False,
        "defaultValue": None, "defaultValueFormula": None, "defaultedOnCreate": False, "dependentPicklist": False,
        "deprecatedAndHidden": False, "digits": 0, "displayLocationInDecimal": False, "encrypted": False,
        "externalId": False, "extraTypeInfo": None, "filterable": True, "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False, "groupable": False, "highScaleNumber": False,
        "htmlFormatted": False, "idLookup": False, "inlineHelpText": None, "label": compound.label, "length": 0,
        "mask": None, "maskType": None, "name": compound.name, "nameField": False, "namePointing": False,
        "nillable": True, "permissionable": False, "picklistValues": [], "polymorphicForeignKey": False,
        "precision": 0, "queryByDistance": True, "referenceTargetField": None, "referenceTo": [],
        "relationshipName": None, "relationshipOrder": None, "restrictedDelete": False,
        "restrictedPicklist": False, "scale": 0, "searchPrefilterable": False, "soapType": "urn:address",
        "sortable": False, "type": "address", "unique": False, "updateable": False, "writeRequiresMasterRead": False,
    }


def describe_fields(obj: ObjectDef) -> list[dict[str, Any]]:
    """``describe``'s ``fields``: each field, and each compound address field right after its last component."""
    after = {c.components[-1][1].name: c for c in compound_fields(obj)}
    described = []
    for f in obj.fields.values():
        described.append(describe_field(obj, f))
        if f.name in after:
            described.append(describe_compound(after[f.name]))
    return described


def describe_field(obj: ObjectDef, f: FieldDef) -> dict[str, Any]:
    """One field of ``describe``: every key of Salesforce's DescribeFieldResult, in its order."""
    text = f.type in TEXT_TYPES
    picklist = f.type in {"picklist", "multipicklist"}
    long_text = f.long_text
    return {
        "aggregatable": not long_text and f.type != "boolean",
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": f.length * 3 if text else 0,
        "calculated": f.derived is not None,
        "calculatedFormula": None,
        "cascadeDelete": f.cascade_delete,
        "caseSensitive": False,
        "compoundFieldName": compound_field_name(obj, f),
        "controllerName": None,
        "createable": f.createable and obj.createable,
        "custom": f.custom,
        "defaultValue": f.default if f.type == "boolean" else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.default is not None or not f.createable,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": f.precision if f.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f.external_id,
        "extraTypeInfo": "plaintextarea" if f.type == "textarea" else None,
        "filterable": not long_text,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": not long_text and f.type not in {"double", "currency", "percent", "datetime"},
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.name == "Id" or f.external_id,
        "inlineHelpText": None,
        "label": f.label,
        "length": f.length if text else 0,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name == "Name",
        "namePointing": False,
        "nillable": f.nillable,
        "permissionable": f.nillable and f.createable,
        "picklistValues": [
            {"active": True, "defaultValue": value == f.default, "label": value, "validFor": None, "value": value}
            for value in f.picklist_values
        ] if picklist else [],
        "polymorphicForeignKey": len(f.reference_to) > 1,
        "precision": f.precision if f.type in {"double", "currency", "percent"} else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": f.restricted_picklist,
        "scale": f.scale if f.type in {"double", "currency", "percent"} else 0,
        "searchPrefilterable": f.type == "reference",
        "soapType": SOAP_TYPES.get(f.type, "xsd:string"),
        "sortable": not long_text,
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable and obj.updateable,
        "writeRequiresMasterRead": False,
    }


def child_relationships(schema: Schema, obj: ObjectDef) -> list[dict[str, Any]]:
    """Every reference field of any object that points at ``obj``."""
    children = []
    for child in sorted(schema.objects.values(), key=lambda o: o.name):
        for f in child.fields.values():
            if obj.name not in f.reference_to or f.name in {"CreatedById", "LastModifiedById"}:
                continue
            name = f"{child.name.removesuffix('__c')}s__r" if f.custom else child.label_plural.replace(" ", "")
            children.append({
                "cascadeDelete": f.cascade_delete, "childSObject": child.name, "deprecatedAndHidden": False,
                "field": f.name,
                "junctionIdListNames": [], "junctionReferenceTo": [], "relationshipName": name,
                "restrictedDelete": False,
            })
    return children


def describe_object(schema: Schema, obj: ObjectDef, version: str) -> dict[str, Any]:
    """``GET sobjects/X/describe``: every key of Salesforce's DescribeSObjectResult (REST, API 61.0)."""
    return {
        **object_summary(obj, version),
        "actionOverrides": [],
        "childRelationships": child_relationships(schema, obj),
        "compactLayoutable": obj.createable,
        "defaultImplementation": None,
        "extendedBy": None,
        "extendsInterfaces": None,
        "fields": describe_fields(obj),
        "implementedBy": None,
        "implementsInterfaces": None,
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [],
        "searchLayoutable": obj.createable,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All records", "name": "everything"}],
        "urls": _urls(obj, version),
    }
