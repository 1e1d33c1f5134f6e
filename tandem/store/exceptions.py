"""Errors raised by the state store."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the state store's errors."""


class StoreUnavailableError(StoreError):
    """A command that reads the store found none: a SQLite file that is not there, or a database that does not
    answer. The message names the store (never its password) and what to do."""


class ConnectionNotFoundError(StoreError):
    """No connection has the given name or id."""


class ConnectionExistsError(StoreError):
    """A connection with this name exists already (names are unique, archived connections included)."""


class ConnectionPairingError(StoreError):
    """A CRM org would be paired with a second ERP account (one ERP company per CRM org).

    Attributes:
        crm_org_id: the CRM org.
        existing_erp_account_id: the ERP account the org is already paired with.
        requested_erp_account_id: the ERP account the new connection asked for.
        existing_connection: the name of the active connection that holds the pairing.
    """

    def __init__(
        self, *, crm_org_id: str, existing_erp_account_id: str, requested_erp_account_id: str, existing_connection: str
    ) -> None:
        self.crm_org_id = crm_org_id
        self.existing_erp_account_id = existing_erp_account_id
        self.requested_erp_account_id = requested_erp_account_id
        self.existing_connection = existing_connection
        if existing_erp_account_id == requested_erp_account_id:
            message = (
                f"CRM org {crm_org_id} is already paired with ERP account {existing_erp_account_id} by active "
                f"connection {existing_connection!r}; use that connection or archive it first"
            )
        else:
            message = (
                f"CRM org {crm_org_id} is already paired with ERP account {existing_erp_account_id} by active "
                f"connection {existing_connection!r}, so it cannot also be paired with ERP account "
                f"{requested_erp_account_id}: one ERP company per CRM org (archive {existing_connection!r} first)"
            )
        super().__init__(message)


class ConnectionBusyError(StoreError):
    """Another run holds the connection's lock: two runs of one connection never interleave their writes."""


class BindingConflictError(StoreError):
    """The database refused a binding because an active one already holds the same CRM or ERP id.

    Raised when a concurrent writer bound the id between the upsert's check and its write; the
    transaction is unusable afterwards and must be rolled back (then the batch can be retried).
    """


#: PostgreSQL's SQLSTATE and SQLite's extended result code for a unique constraint violation.
_PG_UNIQUE_VIOLATION = "23505"
_SQLITE_CONSTRAINT_UNIQUE = 2067


def is_unique_violation(error: Exception) -> bool:
    """True when a database error (``sqlalchemy.exc.IntegrityError``) is a unique constraint violation.

    Decided by the driver's error code (PostgreSQL SQLSTATE 23505, SQLite SQLITE_CONSTRAINT_UNIQUE),
    never by message text.
    """
    original = getattr(error, "orig", None)
    return (
        getattr(original, "sqlstate", None) == _PG_UNIQUE_VIOLATION
        or getattr(original, "sqlite_errorcode", None) == _SQLITE_CONSTRAINT_UNIQUE
    )
