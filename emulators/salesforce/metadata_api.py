"""The Metadata API's SOAP endpoint (``/services/Soap/m/{version}``): ``deploy`` and ``checkDeployStatus``.

``deploy`` takes a base64 zip (``package.xml`` and ``objects/*.object``, ``permissionsets/*.permissionset``)
and answers an ``AsyncResult`` (``done`` false, ``state`` Queued); ``checkDeployStatus`` answers the
``DeployResult`` (``id``, ``done``, ``status``, ``success``, ``numberComponentsDeployed``... and, with
``includeDetails``, ``details`` with ``componentSuccesses`` / ``componentFailures``). The components the
emulator applies are ``CustomObject``, ``CustomField`` and ``PermissionSet`` (see
:mod:`emulators.salesforce.metadata_schema`); any other type named in ``package.xml`` fails as an unknown
type. Simplifications: the deploy runs at once (the first ``checkDeployStatus`` finds it done); no Apex
tests run (``runTestResult`` is empty); ``checkOnly`` validates without applying; ``rollbackOnError``
(simple-salesforce sets it for production orgs) leaves the org unchanged when one component fails, else
the components that passed are applied (``SucceededPartial``). Faults are the Metadata API's
(``sf:INVALID_SESSION_ID``...).
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
import weakref
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from emulators.salesforce.ids import make_id
from emulators.salesforce.metadata_schema import Component, ComponentResult, OrgMetadata
from emulators.salesforce.rest import EmulatorState, supported
from emulators.salesforce.storage_format import format_datetime
from emulators.salesforce.store import RecordStore

METADATA_PREFIX = "/services/Soap/m/"
METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
DEPLOY_PREFIX = "0Af"
_NS = {"m": METADATA_NS, "env": SOAP_ENV}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
#: The folder and suffix of each type's files in a deploy zip.
TYPE_FILES = {"CustomObject": ("objects", ".object"), "PermissionSet": ("permissionsets", ".permissionset")}
APPLY_ORDER = ("CustomObject", "CustomField", "PermissionSet")


class MetadataFault(Exception):
    """A SOAP fault of the Metadata API (``faultcode`` ``sf:{code}``)."""

    def __init__(self, code: str, message: str, *, client: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client = client


class PackageProblem(Exception):
    """The zip or its ``package.xml`` cannot be read: the whole deploy fails with this message."""


@dataclass
class DeployRecord:
    """One deploy: its options, when it ran, and how each component fared."""

    id: str
    created_by: str
    created_by_name: str
    created: datetime
    completed: datetime
    check_only: bool
    rollback_on_error: bool
    ignore_warnings: bool
    results: list[ComponentResult] = field(default_factory=list)
    error_message: str | None = None

    @property
    def failed(self) -> int:
        """How many components failed."""
        return sum(1 for r in self.results if r.problem)

    @property
    def status(self) -> str:
        """``Succeeded``, ``SucceededPartial`` or ``Failed``."""
        if self.error_message or (self.failed and (self.rollback_on_error or self.failed == len(self.results))):
            return "Failed"
        return "SucceededPartial" if self.failed else "Succeeded"


@dataclass
class MetadataOrg:
    """The org's metadata and its deploys (one per record store)."""

    metadata: OrgMetadata
    deploys: dict[str, DeployRecord] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_id(self) -> str:
        """A new deploy id (``0Af...``)."""
        with self.lock:
            return make_id(DEPLOY_PREFIX, len(self.deploys) + 1)


_ORGS: weakref.WeakKeyDictionary[RecordStore, MetadataOrg] = weakref.WeakKeyDictionary()
_ORGS_LOCK = threading.Lock()


def metadata_org(store: RecordStore) -> MetadataOrg:
    """The metadata side of the org whose records are in ``store`` (created on first use)."""
    with _ORGS_LOCK:
        org = _ORGS.get(store)
        if org is None:
            org = _ORGS[store] = MetadataOrg(OrgMetadata(store))
        return org


# -- reading the request and the zip -----------------------------------------------------------------


def _text(node: etree._Element, path: str, default: str = "") -> str:
    found = node.find(path, _NS)
    return (found.text or "").strip() if found is not None else default


def _elements(node: etree._Element) -> dict[str, Any]:
    """A metadata element's children as ``{local name: text}`` (repeated or nested ones as lists/dicts)."""
    data: dict[str, Any] = {}
    for child in node:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        value: Any = _elements(child) if len(child) else (child.text or "").strip()
        if name in data:
            data[name] = [*data[name], value] if isinstance(data[name], list) else [data[name], value]
        else:
            data[name] = value
    return data


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _field_spec(node: etree._Element) -> dict[str, Any]:
    spec: dict[str, Any] = {k: v for k, v in _elements(node).items() if isinstance(v, str)}
    values = node.findall("m:valueSet/m:valueSetDefinition/m:value", _NS)
    spec["values"] = [_text(v, "m:fullName") for v in values]
    default = next((_text(v, "m:fullName") for v in values if _text(v, "m:default") == "true"), "")
    spec["default"] = default
    spec["restricted"] = _text(node, "m:valueSet/m:restricted")
    return spec


def _parse_xml(data: bytes, where: str) -> etree._Element:
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise PackageProblem(f"{where}: Error parsing file: {exc}") from None


def read_package(zipped: bytes) -> list[Component | ComponentResult]:
    """The components ``package.xml`` names, read from their files (in the order they apply), or a
    failed :class:`ComponentResult` for a member whose file is missing or an unknown type.

    Raises:
        PackageProblem: not a zip, or no ``package.xml``.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(zipped))
    except zipfile.BadZipFile:
        raise PackageProblem("The zip file could not be read: not a zip archive") from None
    names = archive.namelist()
    manifest = next((n for n in names if n == "package.xml" or (n.count("/") == 1 and n.endswith("/package.xml"))),
                    None)
    if manifest is None:
        raise PackageProblem("No package.xml found")
    base = manifest.removesuffix("package.xml")
    package = _parse_xml(archive.read(manifest), "package.xml")
    files = {n[len(base):]: n for n in names if n.startswith(base)}
    wanted: dict[str, list[str]] = {}
    for types in package.findall("m:types", _NS):
        wanted.setdefault(_text(types, "m:name"), []).extend(
            (m.text or "").strip() for m in types.findall("m:members", _NS))
    found: list[Component | ComponentResult] = []
    objects: dict[str, etree._Element] = {}

    def object_file(name: str) -> etree._Element | None:
        path = f"objects/{name}.object"
        if path not in files:
            return None
        if name not in objects:
            objects[name] = _parse_xml(archive.read(files[path]), path)
        return objects[name]

    for kind in [*APPLY_ORDER, *sorted(set(wanted) - set(APPLY_ORDER))]:
        members = wanted.get(kind, [])
        if kind not in APPLY_ORDER:
            found.extend(ComponentResult(Component(kind, m, "package.xml", {}),
                                         problem=f"Unknown type name '{kind}' specified in package.xml")
                         for m in members)
            continue
        if kind == "CustomField":
            found.extend(_fields(members, files, object_file))
            continue
        folder, suffix = TYPE_FILES[kind]
        if "*" in members:
            members = sorted({p[len(folder) + 1:-len(suffix)] for p in files
                              if p.startswith(f"{folder}/") and p.endswith(suffix)} | set(members) - {"*"})
        for member in members:
            path = f"{folder}/{member}{suffix}"
            if path not in files:
                found.append(ComponentResult(Component(kind, member, path, {}), problem=(
                    f"An object '{member}' of type {kind} was named in package.xml, but was not found in zipped "
                    "directory")))
                continue
            if kind == "CustomObject":
                found.append(Component(kind, member, path, _object_body(object_file(member))))
            else:
                found.append(Component(kind, member, path, _permission_body(_parse_xml(archive.read(files[path]),
                                                                                       path))))
    return found


def _fields(members: list[str], files: dict[str, str], object_file: Any) -> list[Component | ComponentResult]:
    found: list[Component | ComponentResult] = []
    if "*" in members:
        listed = set(members) - {"*"}
        for path in sorted(p for p in files if p.startswith("objects/") and p.endswith(".object")):
            name = path[len("objects/"):-len(".object")]
            node = object_file(name)
            listed |= {f"{name}.{_text(f, 'm:fullName')}" for f in node.findall("m:fields", _NS)}
        members = sorted(listed)
    for member in members:
        object_name, _, field_name = member.partition(".")
        path = f"objects/{object_name}.object"
        node = object_file(object_name)
        match = None if node is None else next(
            (f for f in node.findall("m:fields", _NS) if _text(f, "m:fullName") == field_name), None)
        if match is None:
            found.append(ComponentResult(Component("CustomField", member, path, {}), problem=(
                f"An object '{member}' of type CustomField was named in package.xml, but was not found in zipped "
                "directory")))
        else:
            found.append(Component("CustomField", member, path, _field_spec(match)))
    return found


def _object_body(node: etree._Element | None) -> dict[str, Any]:
    if node is None:
        return {}
    return {"label": _text(node, "m:label"), "pluralLabel": _text(node, "m:pluralLabel"),
            "nameLabel": _text(node, "m:nameField/m:label")}


def _permission_body(node: etree._Element) -> dict[str, Any]:
    data = _elements(node)
    return {
        "label": data.get("label", ""),
        "objectPermissions": _as_list(data.get("objectPermissions")),
        "fieldPermissions": _as_list(data.get("fieldPermissions")),
        "userPermissions": [p.get("name") for p in _as_list(data.get("userPermissions"))
                            if isinstance(p, dict) and p.get("enabled") == "true"],
    }


# -- the calls ----------------------------------------------------------------------------------------


def deploy(org: MetadataOrg, state: EmulatorState, call: etree._Element, user: dict[str, Any]) -> str:
    """Run a deploy; the ``deployResponse`` body."""
    options = call.find("m:DeployOptions", _NS)

    def option(name: str) -> bool:
        # simple-salesforce writes Python's True/False; Salesforce reads booleans without regard to case.
        return options is not None and _text(options, f"m:{name}").lower() in {"true", "1"}

    now = state.clock.now()
    record = DeployRecord(
        id=org.next_id(), created_by=str(user.get("Id", "")), created_by_name=str(user.get("Name", "")),
        created=now, completed=now, check_only=option("checkOnly"), rollback_on_error=option("rollbackOnError"),
        ignore_warnings=option("ignoreWarnings"),
    )
    try:
        try:
            zipped = base64.b64decode(_text(call, "m:ZipFile"), validate=True)
        except (binascii.Error, ValueError):
            raise PackageProblem("The zip file could not be read: not base64") from None
        read = read_package(zipped)
        failures = [r for r in read if isinstance(r, ComponentResult)]
        components = [c for c in read if isinstance(c, Component)]
        rollback = record.rollback_on_error and bool(failures)
        applied = org.metadata.deploy(components, rollback_on_error=record.rollback_on_error,
                                      check_only=record.check_only or rollback)
        record.results = [*applied, *failures]
    except PackageProblem as exc:
        record.error_message = str(exc)
    record.completed = state.clock.now()
    with org.lock:
        org.deploys[record.id] = record
    return (f"<deployResponse><result><done>false</done><id>{record.id}</id><state>Queued</state></result>"
            "</deployResponse>")


def _message(result: ComponentResult, when: str) -> str:
    component = result.component
    parts = [
        ("changed", "true" if not result.problem else "false"), ("componentType", component.kind),
        ("created", "true" if result.created else "false"), ("createdDate", when), ("deleted", "false"),
        ("fileName", component.file), ("fullName", component.name),
    ]
    if result.problem:
        parts += [("problem", result.problem), ("problemType", "Error")]
    parts.append(("success", "false" if result.problem else "true"))
    return "".join(f"<{k}>{escape(v)}</{k}>" for k, v in parts)


def deploy_result(record: DeployRecord, *, details: bool) -> str:
    """A ``DeployResult`` element (inside ``result``), with ``details`` when asked."""
    when = format_datetime(record.completed).replace("+0000", "Z")
    created = format_datetime(record.created).replace("+0000", "Z")
    total = len(record.results)
    status = record.status
    items = [
        ("checkOnly", "true" if record.check_only else "false"), ("completedDate", when),
        ("createdBy", record.created_by[:15]), ("createdByName", record.created_by_name), ("createdDate", created),
    ]
    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in items)
    if details:
        successes = "".join(f"<componentSuccesses>{_message(r, when)}</componentSuccesses>"
                            for r in record.results if not r.problem)
        failures = "".join(f"<componentFailures>{_message(r, when)}</componentFailures>"
                           for r in record.results if r.problem)
        body += (f"<details>{failures}{successes}<runTestResult><numFailures>0</numFailures>"
                 "<numTestsRun>0</numTestsRun><totalTime>0.0</totalTime></runTestResult></details>")
    body += "<done>true</done>"
    if record.error_message:
        body += f"<errorMessage>{escape(record.error_message)}</errorMessage><errorStatusCode>UNKNOWN_EXCEPTION" \
                "</errorStatusCode>"
    tail = [
        ("id", record.id), ("ignoreWarnings", "true" if record.ignore_warnings else "false"),
        ("lastModifiedDate", when), ("numberComponentErrors", str(record.failed)),
        ("numberComponentsDeployed", str(total - record.failed)), ("numberComponentsTotal", str(total)),
        ("numberTestErrors", "0"), ("numberTestsCompleted", "0"), ("numberTestsTotal", "0"),
        ("rollbackOnError", "true" if record.rollback_on_error else "false"), ("runTestsEnabled", "false"),
        ("startDate", created), ("status", status), ("success", "true" if status != "Failed" else "false"),
    ]
    return body + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in tail)


def check_deploy_status(org: MetadataOrg, call: etree._Element) -> str:
    """The ``checkDeployStatusResponse`` body.

    Raises:
        MetadataFault: ``INVALID_CROSS_REFERENCE_KEY`` for an unknown deploy id.
    """
    deploy_id = _text(call, "m:asyncProcessId")
    with org.lock:
        record = org.deploys.get(deploy_id) or next(
            (r for r in org.deploys.values() if r.id[:15] == deploy_id[:15] and len(deploy_id) >= 15), None)
    if record is None:
        raise MetadataFault("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {deploy_id}")
    details = _text(call, "m:includeDetails").lower() in {"true", "1"}
    return f"<checkDeployStatusResponse><result>{deploy_result(record, details=details)}</result>" \
           "</checkDeployStatusResponse>"


def envelope(body: str) -> bytes:
    """A Metadata API response envelope around ``body`` (elements in the metadata namespace)."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
            f'xmlns="{METADATA_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>").encode()


def fault(exc: MetadataFault) -> Response:
    """The SOAP fault for ``exc`` (HTTP 500, as Salesforce answers every fault)."""
    code = "soapenv:Client" if exc.client else f"sf:{exc.code}"
    text = exc.message if exc.client else f"{exc.code}: {exc.message}"
    body = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
            f'xmlns:sf="{METADATA_NS}"><soapenv:Body><soapenv:Fault><faultcode>{code}</faultcode>'
            f"<faultstring>{escape(text)}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>")
    return Response(body.encode(), 500, media_type="text/xml; charset=utf-8")


def _handle(state: EmulatorState, raw: bytes) -> bytes:
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError:
        raise MetadataFault("", "Could not parse the request: not XML", client=True) from None
    token = _text(root, "env:Header/m:SessionHeader/m:sessionId")
    session = state.sessions.check(token) if token else None
    if session is None:
        raise MetadataFault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
    if not state.limit.charge():
        raise MetadataFault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    body = root.find("env:Body", _NS)
    call = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
    operation = etree.QName(call).localname if call is not None else ""
    org = metadata_org(state.store)
    if operation == "deploy" and call is not None:
        user = state.store.user(session.user_id) or {}
        return envelope(deploy(org, state, call, user))
    if operation == "checkDeployStatus" and call is not None:
        return envelope(check_deploy_status(org, call))
    raise MetadataFault("", f"No operation available for request {{{METADATA_NS}}}{operation}", client=True)


async def answer_metadata_call(state: EmulatorState, request: Request) -> Response:
    """Answer one Metadata API call (``POST /services/Soap/m/{version}[/...]``)."""
    version = request.url.path[len(METADATA_PREFIX):].strip("/").split("/")[0]
    try:
        if not _is_version(version):
            raise MetadataFault("UNSUPPORTED_API_VERSION", f"Invalid Api version specified on URL: {version}")
        answer = await run_in_threadpool(_handle, state, await request.body())
    except MetadataFault as exc:
        return fault(exc)
    return Response(answer, 200, media_type="text/xml; charset=utf-8")


def _is_version(text: str) -> bool:
    try:
        return supported(text)
    except ValueError:
        return False
