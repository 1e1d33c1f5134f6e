"""Tandem's own error codes: why a record did not sync (stored with its binding and the run's record errors).

The codes of the systems themselves (``DUPLICATE_VALUE``, ``RCRD_DSNT_EXIST``...) pass through as the systems
name them; these are the ones Tandem gives. A :class:`SyncCode` is a ``str``: stored and compared as its text,
so stores written before the enum read the same.
"""

from __future__ import annotations

from enum import StrEnum


class SyncCode(StrEnum):
    """Why Tandem did not (or not yet) sync a record."""

    #: The record has no link key and cannot lend one (an ERP-position record without its external id).
    MISSING_EXTERNAL_ID = "MISSING_EXTERNAL_ID"
    #: Several target records share the record's link key or match keys.
    AMBIGUOUS_MATCH = "AMBIGUOUS_MATCH"
    #: The record's partner found by link or match keys is coupled with another record already.
    MATCH_TAKEN = "MATCH_TAKEN"
    #: Written, but its partner is bound to another record in the state store.
    BINDING_CONFLICT = "BINDING_CONFLICT"
    #: A filter on the CRM side keeps the record out.
    EXCLUDED_IN_CRM = "EXCLUDED_IN_CRM"
    #: A filter on the ERP side keeps the record out.
    EXCLUDED_IN_ERP = "EXCLUDED_IN_ERP"
    #: Changed in both systems since its last sync; held for a person.
    CONFLICT_HELD = "CONFLICT_HELD"
    #: Its partner was deleted and the deletion policy removed the coupling.
    UNLINKED = "UNLINKED"
    #: Coupled by a person and not synced yet.
    COUPLED_BY_HAND = "COUPLED_BY_HAND"
    #: Uncoupled by a person: neither half travels until coupled again.
    UNCOUPLED = "UNCOUPLED"
    #: A reference (or an order line's) points to a record that is not coupled.
    UNRESOLVED_REFERENCE = "UNRESOLVED_REFERENCE"
    #: An order without lines.
    NO_LINES = "NO_LINES"
    #: A write failed without a code from the system.
    UNKNOWN = "UNKNOWN"
