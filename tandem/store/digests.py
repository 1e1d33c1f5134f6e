"""Field digests: what a binding stores of each side's mapped record, field by field.

A record's digest is one short text: a marker, a signature of the field list (so a digest made under
another mapping is never compared field by field), then one 48-bit digest per field in the list's
order, of the field's canonical form (:func:`tandem.store.hashing.canonical_form`: ``1`` and ``1.0``
alike, datetimes in UTC, strings NFC). A field the record leaves out (a value not synced, a field
written on create only) has the digest :data:`ABSENT`; a field cleared (``None``) has the digest of
``null``, so clearing a field is a change like any other.

Two digests compare equal when the record is unchanged; :func:`changed_fields` names the fields that
differ, which is what lets a sync write only the fields that changed and tell a conflict (the same
field changed on both sides) from two edits of different fields.

Stores written before field digests hold a SHA-256 of the whole record (64 hex characters, no
marker): :func:`is_field_digest` tells them apart, and such a digest names no fields (``None``:
every field counts as changed when the record differs).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from tandem.store.hashing import canonical_form

#: The first character of a field digest (never a hex digit, so never a whole-record SHA-256).
MARK = "~"
#: Characters per field digest (48 bits in URL-safe base64).
FIELD_CHARS = 8
#: Characters of the field list's signature.
SIGNATURE_CHARS = 4
#: The digest of a field the record leaves out (``~`` is not a base64 character).
ABSENT = "~" * FIELD_CHARS
_HEADER = 1 + SIGNATURE_CHARS
#: Text values remembered per field.
_CACHE_SIZE = 4096


def _digest(text: str, size: int) -> str:
    raw = hashlib.blake2b(text.encode("utf-8"), digest_size=size * 6 // 8).digest()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def signature(names: Sequence[str]) -> str:
    """The signature of an ordered field list (part of every digest made with it)."""
    return _digest("\x1f".join(names), SIGNATURE_CHARS)


def value_digest(value: Any) -> str:
    """The digest of one field's value."""
    return _digest(canonical_form(value), FIELD_CHARS)


def is_field_digest(digest: str | None) -> bool:
    """True when ``digest`` is a field digest (not ``None``, not a whole-record hash of an older store)."""
    return digest is not None and digest.startswith(MARK)


class DigestMaker:
    """Makes the field digests of records mapped the same way.

    Args:
        names: the fields, in a fixed order (the mapping's target fields).
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.prefix = MARK + signature(self.names)
        self._cache: dict[str, dict[str, str]] = {name: {} for name in self.names}
        self._null = value_digest(None)

    def digest(self, record: Mapping[str, Any]) -> str:
        """The digest of ``record`` (its fields outside :attr:`names` are not part of it)."""
        parts = [self.prefix]
        for name in self.names:
            if name not in record:
                parts.append(ABSENT)
                continue
            value = record[name]
            if value is None:
                parts.append(self._null)
            elif type(value) is str:  # the common case: cached per field (texts repeat: picklists, states)
                cache = self._cache[name]
                found = cache.get(value)
                if found is None:
                    found = value_digest(value)
                    if len(cache) < _CACHE_SIZE:
                        cache[value] = found
                parts.append(found)
            else:
                parts.append(value_digest(value))
        return "".join(parts)

    def fields(self, digest: str | None) -> dict[str, str] | None:
        """Each field's digest in ``digest``, or ``None`` when it was not made with these fields."""
        if digest is None or not digest.startswith(self.prefix):
            return None
        body = digest[_HEADER:]
        if len(body) != FIELD_CHARS * len(self.names):
            return None
        return {name: body[i * FIELD_CHARS : (i + 1) * FIELD_CHARS] for i, name in enumerate(self.names)}

    def changed_fields(self, stored: str | None, current: str) -> frozenset[str] | None:
        """The fields whose digests differ between ``stored`` and ``current``.

        Returns:
            The field names (empty when nothing changed), or ``None`` when ``stored`` cannot be compared
            field by field (none stored, an older store's whole-record hash, another mapping): then every
            field counts as changed unless the digests are equal.
        """
        if stored == current:
            return frozenset()
        before, after = self.fields(stored), self.fields(current)
        if before is None or after is None:
            return None
        return frozenset(name for name in self.names if before[name] != after[name])

    def merge(self, fresh: str | None, stored: str | None, keep: Collection[str]) -> str | None:
        """``fresh`` with the fields in ``keep`` as ``stored`` has them.

        Returns:
            The merged digest; ``fresh`` itself when nothing is kept; ``None`` when a kept field's stored
            digest is unknown (the caller then leaves the stored digest as it is).
        """
        if not keep or fresh is None:
            return fresh
        old, new = self.fields(stored), self.fields(fresh)
        if old is None or new is None:
            return None
        merged = {name: old[name] if name in keep else new[name] for name in self.names}
        return self.prefix + "".join(merged[name] for name in self.names)
