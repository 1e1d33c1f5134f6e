"""Errors classified at the adapter boundary: retry the transient ones, stop on the rest."""

from __future__ import annotations


class SyncError(Exception):
    """A failure talking to the CRM or the ERP.

    Attributes:
        code: the system's error code (``REQUEST_LIMIT_EXCEEDED``, ``WS_REQUEST_BLOCKED``, ``HTTP_503`` ...).
        system: ``"crm"`` or ``"erp"``.
    """

    def __init__(self, message: str, *, code: str, system: str) -> None:
        super().__init__(message)
        self.code = code
        self.system = system

    def __str__(self) -> str:
        return f"[{self.system}] {self.code}: {self.args[0]}"


class RetryableSyncError(SyncError):
    """Transient: a timeout, a connection error, HTTP 429/5xx, a concurrency or rate limit.

    Attributes:
        retry_after: seconds the server asked us to wait, when it said so.
        attempts: how many times the call was made before giving up (more than 1: the call level retried it
            already, see :mod:`tandem.retrying`).
    """

    def __init__(
        self, message: str, *, code: str, system: str, retry_after: float | None = None, attempts: int = 1
    ) -> None:
        super().__init__(message, code=code, system=system)
        self.retry_after = retry_after
        self.attempts = attempts


class FatalSyncError(SyncError):
    """Not worth retrying: bad credentials, a malformed request, a mapping or validation problem."""


def is_retryable(exc: BaseException) -> bool:
    """True when ``exc`` is a :class:`RetryableSyncError` (for Prefect's ``retry_condition_fn``)."""
    return isinstance(exc, RetryableSyncError)


class CommandError(Exception):
    """A user's mistake or an unreachable service met by a command: the CLI prints one line and exits 2.

    The message says what is wrong and what to do (``no Tandem Sync Connection block named 'x' on
    http://...: save it first``); it never holds a secret.
    """
