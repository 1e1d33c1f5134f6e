"""Check a Salesforce org has what the mappings need, before anything is written.

The org is described through its own API (``sobjects/X/describe``, as the integration user sees it:
field-level security hides fields and clears ``createable``/``updateable``) and compared with what the
mappings use (:func:`tandem.salesforce.metadata_requirements.org_needs`) and with the package's
definitions of the custom fields (the repo's ``salesforce/`` project). Every difference is one
:class:`Problem`: an object or field missing, a wrong type, a field too short, a link key that is not
an external id, an object or field the integration user may not create, edit or delete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from tandem.adapter import RecordAdapter
from tandem.errors import FatalSyncError
from tandem.mapping import MappingSet
from tandem.salesforce.adapter import SalesforceAdapter
from tandem.salesforce.errors import classify
from tandem.salesforce.metadata_model import (
    DESCRIBE_TYPES,
    NUMERIC_TYPES,
    SIZED_TYPES,
    FieldSpec,
    OrgPackage,
    package_object,
)
from tandem.salesforce.metadata_requirements import FieldNeed, ObjectNeed, org_needs
from tandem.salesforce.metadata_source import SOURCE_ROOT, PackageSourceError, read_source

#: The error code of a run refused because the org lacks what its mappings need.
ORG_METADATA_MISSING = "ORG_METADATA_MISSING"

#: Said of a missing object or field the package does not define.
UNPACKAGED = "not in salesforce/: the org's own, hidden from the integration user, or a mistake in the mapping"

Describe = Callable[[str], dict[str, Any] | None]


class ProblemKind(StrEnum):
    """What is wrong with an object or field."""

    OBJECT_MISSING = "object missing"
    FIELD_MISSING = "field missing"
    WRONG_TYPE = "wrong type"
    TOO_SHORT = "too short"
    NOT_EXTERNAL_ID = "not an external id"
    NO_ACCESS = "no access"


@dataclass(frozen=True)
class Problem:
    """One thing the org lacks: where (object, field) and what."""

    object: str
    field: str | None
    kind: ProblemKind
    detail: str
    #: What is missing is part of the package (deploying it fixes this); ``False`` for a missing object or
    #: field the package does not define (a mapping naming something the org never had).
    packaged: bool = True

    def line(self) -> str:
        """The problem as one line: ``Account.ERP_Id__c: field missing (needs Text(64), external id)``."""
        where = f"{self.object}.{self.field}" if self.field else self.object
        return f"{where}: {self.kind.value}" + (f" ({self.detail})" if self.detail else "")


def package_definitions(root: Path = SOURCE_ROOT) -> OrgPackage | None:
    """The package's definitions (the repo's ``salesforce/`` project), or ``None`` where it is not present."""
    try:
        return read_source(root)
    except (PackageSourceError, OSError):
        return None


def _field_problems(need: FieldNeed, found: dict[str, Any], spec: FieldSpec | None) -> list[Problem]:
    problems: list[Problem] = []

    def add(kind: ProblemKind, detail: str) -> None:
        problems.append(Problem(need.object, need.name, kind, detail))

    if spec is not None:
        actual = str(found.get("type"))
        if actual not in DESCRIBE_TYPES.get(spec.type, frozenset()):
            add(ProblemKind.WRONG_TYPE, f"is {actual}, needs {spec.summary()}")
        elif spec.type in SIZED_TYPES and int(found.get("length") or 0) < spec.length:
            add(ProblemKind.TOO_SHORT, f"holds {found.get('length')} characters, needs {spec.length}")
        elif spec.type in NUMERIC_TYPES:
            # describe gives an int field's size as ``digits``, the others' as ``precision`` and ``scale``.
            if actual == "int":
                precision, scale = int(found.get("digits") or 0), 0
            else:
                precision, scale = int(found.get("precision") or 0), int(found.get("scale") or 0)
            if precision - scale < spec.precision - spec.scale or scale < spec.scale:
                add(ProblemKind.TOO_SHORT, f"is ({precision}, {scale}), needs ({spec.precision}, {spec.scale})")
        elif spec.type == "Lookup" and spec.reference_to not in (found.get("referenceTo") or []):
            add(ProblemKind.WRONG_TYPE, f"looks up {', '.join(found.get('referenceTo') or []) or 'nothing'}, "
                                        f"needs {spec.reference_to}")
    if need.external_id and not found.get("externalId"):
        add(ProblemKind.NOT_EXTERNAL_ID, "Tandem upserts by it")
    if need.create and not found.get("createable"):
        add(ProblemKind.NO_ACCESS, "not createable for the integration user")
    if need.update and not found.get("updateable"):
        add(ProblemKind.NO_ACCESS, "not updateable for the integration user")
    return problems


def _object_problems(need: ObjectNeed, describe: Describe, package: OrgPackage | None) -> list[Problem]:
    found = describe(need.name)
    spec_of = (lambda name: package.field(package_object(need.name), name)) if package else (lambda name: None)
    if found is None:
        custom = package is not None and need.name in package.objects
        return [Problem(need.name, None, ProblemKind.OBJECT_MISSING,
                        "a custom object of the package" if custom else UNPACKAGED, packaged=custom)]
    problems: list[Problem] = []
    for action, wanted, allowed in (("create", need.create, "createable"), ("edit", need.edit, "updateable"),
                                    ("delete", need.delete, "deletable"), ("read", True, "queryable")):
        if wanted and not found.get(allowed, True):
            problems.append(Problem(need.name, None, ProblemKind.NO_ACCESS,
                                    f"the integration user may not {action} its records"))
    fields = {str(f["name"]).lower(): f for f in found.get("fields") or []}
    for name in sorted(need.fields):
        field_need, spec = need.fields[name], spec_of(name)
        described = fields.get(name.lower())
        if described is None:
            problems.append(Problem(need.name, name, ProblemKind.FIELD_MISSING,
                                    f"needs {spec.summary()}" if spec else UNPACKAGED, packaged=spec is not None))
        else:
            problems.extend(_field_problems(field_need, described, spec))
    return problems


def check_org(describe: Describe, mapping_set: MappingSet, *, entities: Iterable[str] | None = None,
              package: OrgPackage | None = None) -> list[Problem]:
    """Everything the org lacks for ``mapping_set`` (only ``entities`` when given), object by object.

    Args:
        describe: an object's describe (``None`` when the org has no such object).
        mapping_set: the mappings to check for.
        entities: only these entities.
        package: the custom objects' and fields' definitions (types, lengths); without it only presence,
            external ids and access are checked.
    """
    needs = org_needs(mapping_set, entities)
    return [p for name in sorted(needs) for p in _object_problems(needs[name], describe, package)]


def describer(sf: Salesforce) -> Describe:
    """A :data:`Describe` over simple-salesforce (``NOT_FOUND`` is a missing object; other errors raise
    classified :class:`~tandem.errors.SyncError`)."""

    def describe(name: str) -> dict[str, Any] | None:
        try:
            return dict(getattr(sf, name).describe())
        except SalesforceResourceNotFound:
            return None
        except Exception as exc:
            raise classify(exc) from None

    return describe


def require_org_metadata(crm: RecordAdapter, mapping_set: MappingSet, entities: Iterable[str]) -> None:
    """Refuse a run before it writes when the Salesforce org lacks what its entities need.

    An object or field missing from both the org and the package is left to the mapping check (a mapping
    naming something the org never had is a mapping error, reported with its file, entity and field).

    Raises:
        FatalSyncError: ``ORG_METADATA_MISSING``, listing every problem (one per line).
    """
    if not isinstance(crm, SalesforceAdapter):
        return
    # The adapter's describes: each object is asked once in the run, whatever else checks or reads it.
    found = check_org(crm.describe, mapping_set, entities=entities, package=package_definitions())
    problems = [p for p in found if p.packaged]
    if problems:
        lines = "\n".join(f"  {p.line()}" for p in problems)
        raise FatalSyncError(
            f"the Salesforce org lacks {len(problems)} thing(s) the mappings need; nothing was written. Deploy "
            f"salesforce/ (tandem check --connection NAME --deploy, or sf project deploy start) and assign the "
            f"Tandem_Integration permission set:\n{lines}",
            code=ORG_METADATA_MISSING, system="crm",
        )
