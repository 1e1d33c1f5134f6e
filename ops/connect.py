"""``tandem connect``: set up (or change) a connection step by step, checking each answer before the next.

The steps, in order: the state store; the Salesforce org (log in, show the org id and whether it is a
sandbox, refuse an org another connection pairs already); the ERP account (log in, show the account and
its environment, refuse a production/sandbox mix); the entities and directions; the org setup with an
administrator login used only here (deploy ``salesforce/``, assign the ``Tandem_Integration`` permission
set to the integration user) and the org check; then the blocks are saved, and the initial import, a full
sync and the deployments are offered. Nothing is saved before every check passed. Re-running it on a
saved connection offers its settings as the defaults and saves only what changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

from pydantic import SecretStr
from simple_salesforce import Salesforce, format_soql

from blocks.connection import ConnectionOptions, SyncConnection
from blocks.erp import ACCOUNT_ID, ErpCredentials
from blocks.salesforce import STANDARD_HOSTS, SalesforceCredentials
from blocks.store import StateStore
from ops.prompts import Prompter, choice, reason
from tandem.errors import CommandError, SyncError
from tandem.mapping import Direction, MappingError, MappingSet
from tandem.salesforce.errors import classify
from tandem.salesforce.metadata_check import check_org, describer, package_definitions
from tandem.salesforce.metadata_deploy import deploy_package
from tandem.store import session_scope
from tandem.store.connections import list_connections
from tandem.sync.pairing import PairingError, check_environments, register_connection

T = TypeVar("T")
LOGIN_METHODS = ("password", "client-credentials", "jwt")
PERMISSION_SET = "Tandem_Integration"
DEFAULT_STORE_URL = "sqlite:///.tandem/state.sqlite3"
NOTHING_SAVED = "; nothing was saved"


@dataclass(frozen=True)
class Org:
    """What a Salesforce login reaches."""

    id: str
    is_sandbox: bool

    @property
    def kind(self) -> str:
        """``sandbox`` or ``production``."""
        return "sandbox" if self.is_sandbox else "production"


def load_existing(name: str) -> SyncConnection | None:
    """The saved connection called ``name``, or ``None`` when there is none yet."""
    try:
        return SyncConnection.load_named(name)
    except ValueError:
        return None


def retried(prompter: Prompter, step: str, attempt: Callable[[], T]) -> T:
    """Run a step; a refusal ends the command without a terminal, and asks the step again at one."""
    while True:
        try:
            return attempt()
        except (SyncError, ValueError) as exc:
            if not prompter.interactive:
                raise CommandError(f"{step}: {reason(exc)}{NOTHING_SAVED}") from None
            prompter.say(f"  ! {step}: {reason(exc)}")
            prompter.used.clear()  # the flags' answers were wrong: ask at the terminal now


def _secret(text: str | None, saved: SecretStr | None) -> SecretStr | None:
    return SecretStr(text) if text is not None else saved


def _default(value: Any) -> str | None:
    return None if value is None else str(value)


# -- the state store -------------------------------------------------------------------------------------


def store_step(p: Prompter, existing: SyncConnection | None) -> StateStore:
    """Ask for the state store's URL and open it (its tables are created when missing)."""
    saved = existing.store if existing else None

    def attempt() -> StateStore:
        url = p.ask("store_url", "State store database URL (sqlite:///path or postgresql+psycopg://...)",
                    None if saved else DEFAULT_STORE_URL, secret=saved is not None, has_saved=saved is not None)
        store = StateStore(url=SecretStr(str(url))) if url else StateStore(url=saved.url)  # type: ignore[union-attr]
        store.get_engine().dispose()
        return store

    return retried(p, "state store", attempt)


def paired_elsewhere(store: StateStore, name: str, org_id: str, erp_account: str | None = None) -> None:
    """Refuse an org another active connection pairs already, or a change of this connection's pair.

    Raises:
        PairingError: one ERP company per CRM org; a connection keeps its org and ERP account.
    """
    engine = store.get_engine()
    try:
        with session_scope(engine, write=False) as session:
            for other in list_connections(session):
                if other.name != name and other.crm_org_id == org_id:
                    raise PairingError(
                        f"Salesforce org {org_id} is paired already with ERP account {other.erp_account_id} by "
                        f"connection {other.name!r}: one ERP company per CRM org"
                    )
                if other.name == name and other.crm_org_id != org_id:
                    raise PairingError(
                        f"connection {name!r} was set up with Salesforce org {other.crm_org_id}, not {org_id}; "
                        "after a sandbox refresh run the sandbox-refresh flow"
                    )
                if other.name == name and erp_account and other.erp_account_id != erp_account:
                    raise PairingError(
                        f"connection {name!r} pairs Salesforce org {org_id} with ERP account "
                        f"{other.erp_account_id}, not {erp_account}: one ERP company per CRM org"
                    )
    finally:
        engine.dispose()


# -- Salesforce ------------------------------------------------------------------------------------------


def _login_method(saved: SalesforceCredentials | None) -> str:
    if saved is None or saved.uses_jwt:
        return "jwt" if saved else "password"
    return "password" if saved.username else "client-credentials"


def salesforce_answers(p: Prompter, saved: SalesforceCredentials | None) -> SalesforceCredentials:
    """Ask the Salesforce questions (by login method) and build the credentials (checked, not yet used)."""
    method = str(p.ask("salesforce_login", f"Salesforce login method ({', '.join(LOGIN_METHODS)})",
                       _login_method(saved), check=choice(LOGIN_METHODS)))
    host = str(p.ask("salesforce_login_host", "Login host (login, test, or a URL such as https://host:8443)",
                     saved.login_host if saved else "login", check=_login_host))
    fields: dict[str, Any] = {"login_host": host}
    ca = p.ask("salesforce_ca_bundle", "CA bundle file for Salesforce's certificate (empty: the system's)",
               saved.ca_bundle_path if saved else None, optional=True)
    fields["ca_bundle_path"] = ca
    if host not in STANDARD_HOSTS:
        fields["sandbox"] = p.confirm("salesforce_sandbox", "Is the org a sandbox?", saved.sandbox if saved else False)

    def secret(key: str, label: str, attribute: str, optional: bool = False) -> SecretStr | None:
        kept: SecretStr | None = getattr(saved, attribute, None) if saved else None
        text = p.ask(key, label, secret=True, has_saved=kept is not None, optional=optional)
        return _secret(None if text is None else str(text), kept)

    if method in ("password", "jwt"):
        fields["username"] = p.ask("salesforce_username", "Integration user's username",
                                   _default(saved.username) if saved else None)
    if method == "password":
        fields["password"] = secret("salesforce_password", "Integration user's password", "password")
        fields["security_token"] = secret("salesforce_security_token", "Security token (empty: none)",
                                          "security_token", optional=True)
    elif method == "client-credentials":
        fields["client_id"] = secret("salesforce_client_id", "Connected app's consumer key", "client_id")
        fields["client_secret"] = secret("salesforce_client_secret", "Connected app's consumer secret",
                                         "client_secret")
        fields["my_domain"] = p.ask("salesforce_my_domain", "The org's My Domain prefix (such as acme.my)",
                                    _default(saved.my_domain) if saved else None)
    else:
        fields["client_id"] = secret("salesforce_client_id", "Connected app's consumer key", "client_id")
        fields["private_key_path"] = p.ask("salesforce_private_key_path", "Private key file (PEM) of the JWT flow",
                                           _default(saved.private_key_path) if saved else None)
    return SalesforceCredentials(**fields)


def reach_org(credentials: SalesforceCredentials) -> Org:
    """Log in and return the org's id and kind (``Organization.IsSandbox``)."""
    org_id, is_sandbox = credentials.get_client().organization()
    return Org(org_id, is_sandbox)


def salesforce_step(p: Prompter, existing: SyncConnection | None, store: StateStore,
                    name: str) -> tuple[SalesforceCredentials, Org]:
    """The Salesforce org: ask, log in, show what the login reaches, refuse an org paired elsewhere."""
    saved = existing.salesforce if existing else None

    def attempt() -> tuple[SalesforceCredentials, Org]:
        credentials = salesforce_answers(p, saved)
        org = reach_org(credentials)
        if credentials.login_host not in STANDARD_HOSTS and credentials.sandbox != org.is_sandbox:
            credentials = credentials.model_copy(update={"sandbox": org.is_sandbox})
        p.say(f"Salesforce: org {org.id} ({org.kind}), integration user "
              f"{credentials.username or 'of the connected app'}")
        paired_elsewhere(store, name, org.id)
        return credentials, org

    return retried(p, "Salesforce", attempt)


# -- the ERP ---------------------------------------------------------------------------------------------


def _account_id(text: str) -> str:
    if not ACCOUNT_ID.match(text):
        raise ValueError(f"{text!r} is not an account id: digits such as 1234567, with _SB1 (_SB2 ...) for a "
                         "sandbox, in capitals with an underscore")
    return text


def _login_host(text: str) -> str:
    url = urlparse(text)
    if text not in STANDARD_HOSTS and (url.scheme not in ("http", "https") or not url.netloc):
        raise ValueError(f"{text!r} is not login, test or a full URL such as https://127.0.0.1:8443")
    return text


def erp_answers(p: Prompter, saved: ErpCredentials | None) -> ErpCredentials:
    """Ask the ERP's token-based-authentication questions and build the credentials (checked, not yet used)."""

    def secret(key: str, label: str, attribute: str) -> SecretStr | None:
        kept: SecretStr | None = getattr(saved, attribute) if saved else None
        text = p.ask(key, label, secret=True, has_saved=kept is not None)
        return _secret(None if text is None else str(text), kept)

    fields: dict[str, Any] = {
        "account_id": p.ask("erp_account", "ERP account id (1234567, or 1234567_SB1 for a sandbox)",
                            saved.account_id if saved else None, check=_account_id),
        "consumer_key": secret("erp_consumer_key", "Integration record's consumer key", "consumer_key"),
        "consumer_secret": secret("erp_consumer_secret", "Integration record's consumer secret", "consumer_secret"),
        "token_id": secret("erp_token_id", "Access token id", "token_id"),
        "token_secret": secret("erp_token_secret", "Access token secret", "token_secret"),
        "wsdl_url": p.ask("erp_wsdl_url", "WSDL URL (or file)", saved.wsdl_url if saved else None),
        "endpoint_url": p.ask("erp_endpoint_url", "SOAP endpoint URL (empty: the WSDL's)",
                              _default(saved.endpoint_url) if saved else None, optional=True),
        "ca_bundle_path": p.ask("erp_ca_bundle", "CA bundle file for the ERP's certificate (empty: the system's)",
                                _default(saved.ca_bundle_path) if saved else None, optional=True),
    }
    return ErpCredentials(**fields)


def reach_erp(credentials: ErpCredentials) -> None:
    """Log in to the ERP with one signed call (``getServerTime``); a refusal raises a classified SyncError."""
    adapter = credentials.get_client()
    try:
        adapter.soap.call("getServerTime")
    finally:
        adapter.close()


def erp_step(p: Prompter, existing: SyncConnection | None, store: StateStore, name: str,
             org: Org) -> ErpCredentials:
    """The ERP account: ask, log in, show it and its environment, refuse a production/sandbox mix."""
    saved = existing.erp if existing else None

    def attempt() -> ErpCredentials:
        credentials = erp_answers(p, saved)
        reach_erp(credentials)
        p.say(f"ERP: account {credentials.account_id} ({'sandbox' if credentials.is_sandbox else 'production'})")
        check_environments(org.kind, crm_org_id=org.id, crm_is_sandbox=org.is_sandbox,
                           erp_account=credentials.account_id, erp_is_sandbox=credentials.is_sandbox)
        paired_elsewhere(store, name, org.id, credentials.account_id)
        return credentials

    return retried(p, "ERP", attempt)


# -- entities and directions -----------------------------------------------------------------------------


def _entities(mappings: MappingSet) -> Callable[[str], list[str] | None]:
    def check(text: str) -> list[str] | None:
        if text.lower() == "all":
            return None
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in mappings.entities]
        if unknown:
            raise ValueError(f"no entity {', '.join(unknown)} in {mappings.name!r}; "
                             f"choose from {', '.join(mappings.entities)}")
        return names

    return check


def _directions(mappings: MappingSet, base: SyncConnection) -> Callable[[str], dict[str, Direction]]:
    def check(text: str) -> dict[str, Direction]:
        found = _parse_directions(text)
        options = base.options.model_copy(update={"directions": found})
        try:
            base.model_copy(update={"options": options}).mapping_set_for_run()
        except MappingError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return found

    def _parse_directions(text: str) -> dict[str, Direction]:
        if text.lower() == "none":
            return {}
        found: dict[str, Direction] = {}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            entity, _, value = part.partition("=")
            if entity.strip() not in mappings.entities:
                raise ValueError(f"no entity {entity.strip()!r} in {mappings.name!r}")
            try:
                found[entity.strip()] = Direction(value.strip())
            except ValueError:
                raise ValueError(f"{part!r}: the direction is one of {', '.join(d.value for d in Direction)}") from None
        return found

    return check


def options_step(p: Prompter, existing: SyncConnection | None, base: SyncConnection) -> ConnectionOptions:
    """Choose the entities and their directions (from the mapping set; the saved choice is the default)."""
    mappings = load_plain(base)
    saved = existing.options if existing else ConnectionOptions()
    p.say(f"Entities of mapping set {mappings.name!r}: " + ", ".join(
        f"{name} ({entity.direction.value})" for name, entity in mappings.entities.items()))
    entities = p.ask("entities", "Entities to sync (comma-separated, or all)",
                     ",".join(saved.entities) if saved.entities else "all", check=_entities(mappings))
    directions = p.ask("directions", "Directions to change (entity=to_crm|to_erp|both, comma-separated, or none)",
                       ",".join(f"{k}={v.value}" for k, v in saved.directions.items()) or "none",
                       check=_directions(mappings, base))
    return saved.model_copy(update={"entities": entities, "directions": directions})


def load_plain(block: SyncConnection) -> MappingSet:
    """The connection's mapping set without its options (the choices are made against it)."""
    from tandem.mapping import load_mapping_set

    return load_mapping_set(block.mapping_path())


# -- the org: administrator setup and the check ----------------------------------------------------------


def admin_login(p: Prompter, integration: SalesforceCredentials) -> Salesforce | None:
    """Ask for an administrator's login (never stored) and log in with it; ``None`` when skipped."""
    username = p.ask("admin_username", "Administrator's username, to deploy Tandem's metadata and assign its "
                     "permission set (used now, never stored; empty skips)", optional=True)
    if username is None:
        return None
    password = p.ask("admin_password", "Administrator's password", secret=True)
    token = p.ask("admin_security_token", "Administrator's security token (empty: none)", secret=True, optional=True)
    admin = SalesforceCredentials(
        login_host=integration.login_host, sandbox=integration.sandbox, ca_bundle_path=integration.ca_bundle_path,
        username=str(username), password=SecretStr(str(password)),
        security_token=SecretStr(str(token)) if token else None, api_version=integration.api_version,
    )
    return admin.login()


def assign_permission_set(sf: Salesforce, username: str) -> str:
    """Assign ``Tandem_Integration`` to the user ``username`` unless it is; return what was done (one line)."""
    try:
        users = sf.query(format_soql("SELECT Id FROM User WHERE Username = {}", username))["records"]
        if not users:
            raise ValueError(f"the org has no user {username!r} to assign {PERMISSION_SET} to")
        sets = sf.query(format_soql("SELECT Id FROM PermissionSet WHERE Name = {}", PERMISSION_SET))["records"]
        if not sets:
            raise ValueError(f"the org has no permission set {PERMISSION_SET}: the deploy did not create it")
        user_id, set_id = users[0]["Id"], sets[0]["Id"]
        held = sf.query(format_soql("SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {} AND "
                                    "PermissionSetId = {}", user_id, set_id))["records"]
        if held:
            return f"{username} holds permission set {PERMISSION_SET} already"
        sf.restful("sobjects/PermissionSetAssignment/", method="POST",
                   data=json.dumps({"AssigneeId": user_id, "PermissionSetId": set_id}))
    except (ValueError, SyncError):
        raise
    except Exception as exc:
        raise classify(exc) from None
    return f"assigned permission set {PERMISSION_SET} to {username}"


def org_setup_step(p: Prompter, integration: SalesforceCredentials, block: SyncConnection) -> None:
    """Prepare the org with an administrator's login (optional), then check it as the integration user."""

    def attempt() -> None:
        sf = admin_login(p, integration)
        if sf is not None:
            outcome = deploy_package(sf)
            if not outcome.succeeded:
                raise ValueError(f"deploy {outcome.id} {outcome.status}: {'; '.join(outcome.failures)}")
            p.say(f"deployed {outcome.deployed} of {outcome.total} components of salesforce/ (deploy {outcome.id})")
            user = integration.username or str(p.ask("integration_username",
                                                     "The connected app's run-as user (its username)"))
            p.say(assign_permission_set(sf, user))
        mappings = block.mapping_set_for_run()
        problems = check_org(describer(integration.login()), mappings, entities=block.enabled_entities(),
                             package=package_definitions())
        if problems:
            for problem in problems:
                p.say(f"  {problem.line()}")
            raise ValueError(f"the org lacks {len(problems)} thing(s) the chosen entities need: give an "
                             "administrator's login to deploy salesforce/")
        p.say(f"check: the org has every object, field and permission the {len(block.enabled_entities())} "
              "entities need")

    retried(p, "org setup", attempt)


# -- saving and what follows -----------------------------------------------------------------------------


def changes(old: SyncConnection | None, new: SyncConnection) -> list[str]:
    """The settings that differ (secrets compared, never shown), as ``part.field`` names; ``["new"]`` for a new
    connection."""
    if old is None:
        return ["new"]
    found = []
    for part in ("salesforce", "erp", "store", "options"):
        before, after = _plain(getattr(old, part)), _plain(getattr(new, part))
        found += [f"{part}.{key}" for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]
    found += [key for key in ("environment", "mapping_set") if getattr(old, key) != getattr(new, key)]
    return found


def _plain(model: Any) -> dict[str, Any]:
    data = {}
    for key in type(model).model_fields:
        value = getattr(model, key)
        data[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return data


def save(name: str, block: SyncConnection, org: Org) -> None:
    """Save the four blocks (credentials and store as their own named blocks) and register the pair."""
    block.require_salesforce("tandem connect").save(f"{name}-salesforce", overwrite=True)
    block.erp.save(f"{name}-erp", overwrite=True)
    block.store.save(f"{name}-store", overwrite=True)
    block.save(name, overwrite=True)
    engine = block.store.get_engine()
    try:
        register_connection(engine, name=name, environment=block.environment, crm_org_id=org.id,
                            erp_account=block.erp.account_id)
    finally:
        engine.dispose()


def run_flows(p: Prompter, name: str) -> None:
    """Offer the initial import and a full sync, and run the ones accepted."""
    from flows.full_sync import full_sync
    from flows.initial_import import initial_import

    for key, label, default, flow in (("initial_import", "Run the initial import now?", True, initial_import),
                                      ("full_sync", "Run a full sync now?", False, full_sync)):
        if not p.confirm(key, label, default):
            continue
        try:
            # The block's name for the connection parameter: Prefect loads the block.
            rows = cast(list[dict[str, Any]], flow(connection=name))  # type: ignore[call-overload]
        except Exception as exc:  # a run that failed: the blocks stay saved, the run's report says why
            raise CommandError(f"connection {name!r} is saved, but its {key.replace('_', ' ')} failed: "
                               f"{reason(exc)} (tandem runs and tandem failures show why)") from None
        moved = sum(int(r.get("inserted", 0) or 0) + int(r.get("updated", 0) or 0) for r in rows)
        failed = sum(int(r.get("failed", 0) or 0) for r in rows)
        p.say(f"{key.replace('_', ' ')}: {len(rows)} entities, {moved} records written, {failed} failed")


def offer_deployments(p: Prompter, name: str) -> None:
    """Offer to create the connection's deployments; say why not when no Prefect server answers."""
    from ops.deploy import deploy_connection
    from ops.prefect_api import require_server

    try:
        require_server()
    except CommandError as exc:
        p.say(f"deployments: skipped, {exc}; create them later with tandem deploy --connection {name}")
        return
    if p.confirm("deployments", "Create the deployments (the schedules) on the Prefect server?", True):
        deployed = deploy_connection(name)
        p.say(f"deployments: {len(deployed)} created or updated (tandem schedule lists them)")


def checked_settings(p: Prompter, name: str, existing: SyncConnection | None,
                     mapping_set: str | None) -> tuple[SyncConnection, Org]:
    """Every step before saving: the store, both logins, the pairing rules, the options, the org setup."""
    store = store_step(p, existing)
    salesforce, org = salesforce_step(p, existing, store, name)
    erp = erp_step(p, existing, store, name, org)
    try:
        base = SyncConnection(salesforce=salesforce, erp=erp, store=store, environment=org.kind,  # type: ignore[arg-type]
                              mapping_set=mapping_set or (existing.mapping_set if existing else "default"),
                              options=existing.options if existing else ConnectionOptions(),
                              lock_lease_seconds=existing.lock_lease_seconds if existing else 60)
        options = options_step(p, existing, base)
    except MappingError as exc:
        raise CommandError(str(exc)) from None
    block = base.model_copy(update={"options": options})
    org_setup_step(p, salesforce, block)
    return block, org


def connect(p: Prompter, name: str, mapping_set: str | None = None) -> SyncConnection:
    """Run the wizard for connection ``name``; return the saved block.

    Raises:
        CommandError: a refused answer without a terminal to ask again (nothing saved).
    """
    existing = load_existing(name)
    p.say(f"Connection {name!r}: " + ("changing its saved settings (Enter keeps each)" if existing else "new"))
    try:
        block, org = checked_settings(p, name, existing, mapping_set)
    except CommandError as exc:
        message = str(exc)
        raise CommandError(message if message.endswith(NOTHING_SAVED) else f"{message}{NOTHING_SAVED}") from None
    changed = changes(existing, block)
    if not changed:
        p.say(f"saved: nothing changed on connection {name!r}")
    else:
        save(name, block, org)
        what = (f"with its blocks {name}-salesforce, {name}-erp and {name}-store" if changed == ["new"]
                else f"changed: {', '.join(changed)}")
        p.say(f"saved connection {name!r} {what}")
    run_flows(p, name)
    offer_deployments(p, name)
    return block
