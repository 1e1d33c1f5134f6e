"""Deploy the org package through the Metadata API (simple-salesforce's ``deploy`` / ``checkDeployStatus``),
and ``tandem check``: describe the org, list what it lacks, optionally deploy first.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simple_salesforce import Salesforce

from tandem.errors import CommandError, SyncError
from tandem.mapping import MappingSet
from tandem.salesforce.errors import classify
from tandem.salesforce.metadata_check import check_org, describer, package_definitions
from tandem.salesforce.metadata_source import SOURCE_ROOT, deploy_zip

#: A deploy's final states (``DeployResult.status``).
FINISHED = frozenset({"Succeeded", "SucceededPartial", "Failed", "Canceled"})
DEFAULT_DEPLOY_TIMEOUT = 600.0


@dataclass
class DeployOutcome:
    """How a deploy ended: its id, final status, counts and each component's failure (one line each)."""

    id: str
    status: str
    deployed: int = 0
    total: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """True when every component deployed."""
        return self.status == "Succeeded"


def deploy_package(sf: Salesforce, root: Path = SOURCE_ROOT, *, timeout: float = DEFAULT_DEPLOY_TIMEOUT,
                   poll_seconds: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> DeployOutcome:
    """Deploy the DX project under ``root`` (converted to a Metadata API zip) and wait for the result.

    All or nothing (``rollbackOnError``): a component that fails leaves the org as it was.

    Raises:
        SyncError: the API refused the call (classified); a ``TIMEOUT`` when the deploy is not done in time.
    """
    archive = io.BytesIO(deploy_zip(root))
    try:
        started = sf.deploy(archive, sandbox=False)
        deploy_id = str(started["asyncId"] or "")
        if not deploy_id:
            raise SyncError("the Metadata API gave no deploy id", code="DEPLOY_FAILED", system="crm")
        deadline = time.monotonic() + timeout
        while True:
            status: dict[str, Any] = sf.checkDeployStatus(deploy_id)
            if status["state"] in FINISHED:
                break
            if time.monotonic() > deadline:
                raise SyncError(f"deploy {deploy_id} not done after {timeout:.0f} s", code="TIMEOUT", system="crm")
            sleep(poll_seconds)
    except SyncError:
        raise
    except Exception as exc:
        raise classify(exc) from None
    detail = status.get("deployment_detail") or {}
    failures = [f"{e.get('type')} {e.get('file')}: {e.get('message')}" for e in detail.get("errors") or []]
    return DeployOutcome(id=deploy_id, status=str(status["state"]), deployed=int(detail.get("deployed_count") or 0),
                         total=int(detail.get("total_count") or 0), failures=failures)


def run_check(login: Callable[[], Salesforce], mapping_set: MappingSet, *, deploy: bool = False,
              out: Callable[[str], None] = print) -> int:
    """``tandem check``: print one line per problem the org has for ``mapping_set``; 0 when there is none, 1 else.

    Args:
        login: logs in to the org (the connection's Salesforce credentials).
        mapping_set: the connection's mappings.
        deploy: deploy the package first (through the Metadata API), then check.
        out: where lines go.

    Raises:
        CommandError: the login or a call failed, or the deploy failed (its components' errors in the message).
    """
    try:
        sf = login()
        if deploy:
            outcome = deploy_package(sf)
            if not outcome.succeeded:
                reasons = "; ".join(outcome.failures) or "no reason given"
                raise CommandError(f"deploy {outcome.id} {outcome.status}: {reasons}")
            out(f"deployed {outcome.deployed} of {outcome.total} components (deploy {outcome.id})")
        package = package_definitions()
        problems = check_org(describer(sf), mapping_set, package=package)
    except SyncError as exc:
        raise CommandError(f"Salesforce: {exc}") from None
    for problem in problems:
        out(problem.line())
    if problems:
        out(f"{len(problems)} problem(s): deploy salesforce/ (tandem check --deploy, or sf project deploy start) "
            "and assign the Tandem_Integration permission set to the integration user")
        return 1
    entities = len(mapping_set.entities)
    out(f"the org has every object, field and permission the {entities} entities of {mapping_set.name!r} need")
    return 0
