"""What Tandem needs in a Salesforce org, as data: custom objects, custom fields and the integration's permissions.

The Metadata API's own vocabulary is used throughout (``Text``, ``Number``, ``Lookup``...); the
Salesforce DX source files (:mod:`tandem.salesforce.metadata_source`) and the org check
(:mod:`tandem.salesforce.metadata_check`) both read these definitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Metadata API field types -> the types describe reports for them. A custom Number field describes as
#: ``double`` whatever its scale (some standard whole-number fields describe as ``int``).
DESCRIBE_TYPES: dict[str, frozenset[str]] = {
    "Text": frozenset({"string"}),
    "TextArea": frozenset({"textarea"}),
    "LongTextArea": frozenset({"textarea"}),
    "Number": frozenset({"double", "int"}),
    "Currency": frozenset({"currency"}),
    "Percent": frozenset({"percent"}),
    "Date": frozenset({"date"}),
    "DateTime": frozenset({"datetime"}),
    "Checkbox": frozenset({"boolean"}),
    "Picklist": frozenset({"picklist"}),
    "MultiselectPicklist": frozenset({"multipicklist"}),
    "Email": frozenset({"email"}),
    "Phone": frozenset({"phone"}),
    "Url": frozenset({"url"}),
    "Lookup": frozenset({"reference"}),
}
#: Custom fields of tasks and events are defined once, on the Activity object (describe shows them on Task).
ACTIVITY_OBJECTS = frozenset({"Task", "Event"})
ACTIVITY = "Activity"
#: Types whose length (characters) is part of the definition.
SIZED_TYPES = frozenset({"Text", "LongTextArea"})
#: Types with precision and scale.
NUMERIC_TYPES = frozenset({"Number", "Currency", "Percent"})


@dataclass(frozen=True)
class FieldSpec:
    """One custom field as the Metadata API defines it (``CustomField``).

    Attributes:
        object: the object's API name (``Account``, ``ERP_Invoice__c``).
        name: the field's API name (``ERP_Id__c``).
        type: the Metadata API type (``Text``, ``Number``, ``Lookup``...; see :data:`DESCRIBE_TYPES`).
        label: the field's label.
        length: characters, for ``Text`` and ``LongTextArea`` (a ``TextArea`` holds 255).
        precision: total digits, for ``Number``, ``Currency`` and ``Percent``.
        scale: digits after the decimal point.
        required: a value is required on every record (such a field takes no field permissions).
        external_id: an external id (upserts and lookups by it).
        unique: values are unique (case-insensitive).
        reference_to: the object a ``Lookup`` points to.
        relationship_name: the child relationship name on the parent (``ERP_Invoices``).
        relationship_label: the related list's label on the parent.
        picklist_values: the values of a picklist, in order; the first is not a default unless ``default``.
        restricted: a restricted picklist refuses values outside its list.
        default: a picklist's default value, or a checkbox's (``true``/``false``).
    """

    object: str
    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    required: bool = False
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    relationship_label: str | None = None
    picklist_values: tuple[str, ...] = ()
    restricted: bool = False
    default: str | None = None

    @property
    def full_name(self) -> str:
        """``Object.Field``, as package.xml and permission sets name a field."""
        return f"{self.object}.{self.name}"

    def summary(self) -> str:
        """A short human description: ``Text(64), external id``."""
        text = self.type
        if self.type in SIZED_TYPES:
            text += f"({self.length})"
        elif self.type in NUMERIC_TYPES:
            text += f"({self.precision}, {self.scale})"
        elif self.type == "Lookup":
            text += f"({self.reference_to})"
        if self.external_id:
            text += ", external id"
        if self.required:
            text += ", required"
        return text


@dataclass(frozen=True)
class ObjectSpec:
    """One object Tandem uses: a custom object it creates (``CustomObject``), or a standard one it adds fields to.

    Attributes:
        name: the API name.
        custom: a custom object (``__c``) the package creates.
        label: the label (custom objects).
        plural_label: the plural label (custom objects).
        name_label: the label of the object's Name field (custom objects; a text Name).
        fields: the custom fields the package adds, by API name.
    """

    name: str
    custom: bool
    label: str = ""
    plural_label: str = ""
    name_label: str = "Name"
    fields: dict[str, FieldSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectAccess:
    """What the integration user may do with an object's records (a permission set's ``objectPermissions``)."""

    object: str
    create: bool = False
    edit: bool = False
    delete: bool = False
    view_all: bool = True


@dataclass(frozen=True)
class FieldAccess:
    """The integration user's field-level security on one field (``fieldPermissions``)."""

    field: str
    editable: bool


@dataclass(frozen=True)
class PermissionSetSpec:
    """The permission set assigned to the integration user."""

    name: str
    label: str
    description: str
    objects: tuple[ObjectAccess, ...]
    fields: tuple[FieldAccess, ...]
    user_permissions: tuple[str, ...]


@dataclass(frozen=True)
class OrgPackage:
    """Everything the package deploys: objects and fields, and the permission set."""

    objects: dict[str, ObjectSpec]
    permission_set: PermissionSetSpec

    def field(self, object_name: str, field_name: str) -> FieldSpec | None:
        """The package's definition of ``object_name.field_name``, or ``None`` when the package has none."""
        spec = self.objects.get(object_name)
        return spec.fields.get(field_name) if spec else None

    def fields(self) -> list[FieldSpec]:
        """Every custom field of the package, object by object."""
        return [f for obj in self.objects.values() for f in obj.fields.values()]


def package_object(object_name: str) -> str:
    """The object a custom field of ``object_name`` is defined on in a package (``Task`` -> ``Activity``)."""
    return ACTIVITY if object_name in ACTIVITY_OBJECTS else object_name
