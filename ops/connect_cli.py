"""The options of ``tandem connect`` and ``tandem connection`` (argparse only: nothing heavy imported here)."""

from __future__ import annotations

import argparse
import os
import sys

#: Questions answered by a flag, by key (the flag is ``--`` + the key with dashes), and their help.
QUESTIONS = {
    "store_url": "the state store's database URL (default sqlite:///.tandem/state.sqlite3)",
    "salesforce_login": "password, client-credentials or jwt",
    "salesforce_login_host": "login, test, or a URL such as https://127.0.0.1:8443",
    "salesforce_ca_bundle": "a PEM file of CAs for Salesforce's certificate",
    "salesforce_sandbox": "yes or no: the org behind a custom login URL is a sandbox",
    "salesforce_username": "the integration user's username",
    "salesforce_password": "the integration user's password",
    "salesforce_security_token": "the integration user's security token",
    "salesforce_client_id": "the connected app's consumer key",
    "salesforce_client_secret": "the connected app's consumer secret",
    "salesforce_my_domain": "the org's My Domain prefix (client-credentials)",
    "salesforce_private_key_path": "the JWT flow's private key file (PEM)",
    "erp_account": "the ERP account id (1234567, 1234567_SB1)",
    "erp_consumer_key": "the integration record's consumer key",
    "erp_consumer_secret": "the integration record's consumer secret",
    "erp_token_id": "the access token id",
    "erp_token_secret": "the access token secret",
    "erp_wsdl_url": "the WSDL's URL or file",
    "erp_endpoint_url": "the SOAP endpoint, instead of the WSDL's address",
    "erp_ca_bundle": "a PEM file of CAs for the ERP's certificate",
    "entities": "comma-separated entities to sync, or all",
    "directions": "entity=to_crm|to_erp|both, comma-separated, or none",
    "admin_username": "an administrator's username for the org setup (never stored)",
    "admin_password": "the administrator's password (never stored)",
    "admin_security_token": "the administrator's security token (never stored)",
    "integration_username": "the connected app's run-as user, for client-credentials",
}
#: Secret answers may also come from the environment: TANDEM_<KEY> (TANDEM_SALESFORCE_PASSWORD ...).
SECRETS = frozenset({"store_url", "salesforce_password", "salesforce_security_token", "salesforce_client_id",
                     "salesforce_client_secret", "erp_consumer_key", "erp_consumer_secret", "erp_token_id",
                     "erp_token_secret", "admin_password", "admin_security_token"})
CHOICES = ("initial_import", "full_sync", "deployments")

CONNECT_DESCRIPTION = """\
Set up a connection, or change a saved one, step by step: the state store; the Salesforce org (logs in, shows
the org id and whether it is a sandbox); the ERP account (logs in, shows the account and its environment); the
entities and directions; an administrator's login, used only now and never stored, that deploys salesforce/
and assigns the Tandem_Integration permission set to the integration user; the org check. Production pairs
with production, sandbox with sandbox, one ERP company per CRM org: a refused answer is asked again (or, with
--no-input, ends the command) and nothing is saved before every check passed. Then it saves the blocks (NAME,
NAME-salesforce, NAME-erp, NAME-store) and offers the initial import, a full sync and the deployments.
Every question is also a flag; secrets may come from TANDEM_<FLAG> variables (TANDEM_ERP_TOKEN_SECRET).
Run again on a saved connection, it offers the saved settings and saves only what changed.

example:
  tandem connect --name acme
  tandem connect --name acme --no-input --salesforce-username int@acme.com --erp-account 1234567 ..."""

CONNECTION_DESCRIPTION = """\
The sync switch. disable leaves records and bindings alone and makes scheduled runs skip the connection;
enable records the moment of enabling and runs the initial import (Salesforce records changed in the last 24
hours come in; only ERP records created from now on go out). --entity switches one entity (the connection's
entity list) instead.

example:
  tandem connection disable acme
  tandem connection enable acme --entity task"""


def add_connect_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the wizard's flags to the ``tandem connect`` parser."""
    parser.description = CONNECT_DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--name", help="the connection's name (asked when missing)")
    parser.add_argument("--mapping-set", help="the mapping file: a name under mappings/ or a path (default: default)")
    parser.add_argument("--no-input", "--yes", dest="no_input", action="store_true",
                        help="ask nothing: take flags, then defaults; a missing or refused answer ends the command")
    for key, text in QUESTIONS.items():
        parser.add_argument("--" + key.replace("_", "-"), dest=key, metavar="VALUE", help=text)
    for key in CHOICES:
        parser.add_argument("--" + key.replace("_", "-"), dest=key, action=argparse.BooleanOptionalAction,
                            help=f"run or create the {key.replace('_', ' ')} (asked when missing)")


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``enable`` and ``disable`` to the ``tandem connection`` parser."""
    parser.description = CONNECTION_DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    verbs = parser.add_subparsers(dest="switch", required=True, metavar="{enable,disable}")
    for verb, text in (("enable", "turn sync on and run the initial import"),
                       ("disable", "turn sync off: scheduled runs skip, records stay")):
        sub = verbs.add_parser(verb, help=text, description=text)
        sub.add_argument("name", help="the Tandem Sync Connection block")
        sub.add_argument("--entity", help="only this entity of the connection")


def answers(args: argparse.Namespace) -> dict[str, str | None]:
    """The wizard's answers from the flags, secrets also from ``TANDEM_<KEY>`` variables."""
    found: dict[str, str | None] = {}
    for key in QUESTIONS:
        value = getattr(args, key)
        if value is None and key in SECRETS:
            value = os.environ.get(f"TANDEM_{key.upper()}")
        found[key] = value
    for key in CHOICES:
        chosen = getattr(args, key)
        found[key] = None if chosen is None else ("yes" if chosen else "no")
    return found


def run_connect(args: argparse.Namespace) -> int:
    """``tandem connect``: run the wizard at the terminal, or from the flags alone with ``--no-input``."""
    from ops.connect import connect
    from ops.prompts import Prompter

    interactive = not args.no_input and sys.stdin.isatty()
    prompter = Prompter(interactive=interactive, answers=answers(args))
    name = str(prompter.ask("name", "Connection name", args.name))
    connect(prompter, name, args.mapping_set)
    return 0


def run_connection(args: argparse.Namespace) -> int:
    """``tandem connection enable|disable``."""
    from ops.connection_switch import disable, enable

    return (enable if args.switch == "enable" else disable)(args.name, args.entity)
