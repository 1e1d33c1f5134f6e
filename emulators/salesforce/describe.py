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


def describe_field(obj: ObjectDef, f: FieldDef) -> dict[str, Any]:
    """One field of ``describe``, with the attributes Salesforce reports."""
    text = f.type in TEXT_TYPES
    picklist = f.type in {"picklist", "multipicklist"}
    return {
        "aggregatable": f.type not in {"textarea", "boolean"},
        "autoNumber": False,
        "byteLength": f.length * 3 if text else 0,
        "calculated": f.derived is not None,
        "cascadeDelete": f.cascade_delete,
        "caseSensitive": False,
        "createable": f.createable and obj.createable,
        "custom": f.custom,
        "defaultValue": f.default if f.type == "boolean" else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.default is not None or not f.createable,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": f.precision if f.type == "int" else 0,
        "externalId": f.external_id,
        "filterable": f.type != "textarea",
        "groupable": f.type not in {"textarea", "double", "currency", "percent", "datetime"},
        "htmlFormatted": False,
        "idLookup": f.name == "Id" or f.external_id,
        "label": f.label,
        "length": f.length if text else 0,
        "name": f.name,
        "nameField": f.name == "Name",
        "nillable": f.nillable,
        "permissionable": f.nillable and f.createable,
        "picklistValues": [
            {"active": True, "defaultValue": value == f.default, "label": value, "validFor": None, "value": value}
            for value in f.picklist_values
        ] if picklist else [],
        "precision": f.precision if f.type in {"double", "currency", "percent"} else 0,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedPicklist": f.restricted_picklist,
        "scale": f.scale if f.type in {"double", "currency", "percent"} else 0,
        "soapType": SOAP_TYPES.get(f.type, "xsd:string"),
        "sortable": f.type != "textarea",
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable and obj.updateable,
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
