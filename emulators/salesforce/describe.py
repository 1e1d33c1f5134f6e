"""The describe resources: the ``sobjects`` list, an object's basic info and its full describe."""

from __future__ import annotations

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
    """``GET sobjects/X/describe``."""
    return {
        **object_summary(obj, version),
        "actionOverrides": [],
        "childRelationships": child_relationships(schema, obj),
        "compactLayoutable": obj.createable,
        "fields": [describe_field(obj, f) for f in obj.fields.values()],
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [],
        "searchLayoutable": obj.createable,
        "supportedScopes": [{"label": "All records", "name": "everything"}],
        "urls": _urls(obj, version),
    }
