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

from base64 import urlsafe_b64encode
from collections.abc import Collection, Mapping, Sequence
from hashlib import blake2b
from itertools import chain
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
#: Bytes of a field digest (base64 turns each 3 bytes into 4 characters, so the field digests of a record
#: encoded together are the field digests encoded one by one, side by side).
_FIELD_BYTES = FIELD_CHARS * 3 // 4
#: Stands for a field left out in a column of raw digests (its place is then filled with :data:`ABSENT`).
_GAP = bytes(_FIELD_BYTES)
#: A field left out of a record given to :meth:`DigestMaker.digest`.
_LEFT_OUT = object()
#: BLAKE2b of a field digest's size, nothing hashed yet: copied for each value (cheaper than a new one).
_FIELD_HASH = blake2b(digest_size=_FIELD_BYTES)


def _digest(text: str, size: int) -> str:
    raw = blake2b(text.encode("utf-8"), digest_size=size * 3 // 4).digest()
    return urlsafe_b64encode(raw).decode("ascii")


def _raw_digest(value: Any) -> bytes:
    """The field digest of ``value`` before base64 (:func:`value_digest` of ``value``, decoded)."""
    hashed = _FIELD_HASH.copy()
    hashed.update(canonical_form(value).encode("utf-8"))
    return hashed.digest()


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
        self._cache: dict[str, dict[str, bytes]] = {name: {} for name in self.names}
        self._null = _raw_digest(None)

    def digest(self, record: Mapping[str, Any]) -> str:
        """The digest of ``record`` (its fields outside :attr:`names` are not part of it)."""
        null = self._null
        raws = [
            _GAP if value is _LEFT_OUT else null if value is None else _raw_digest(value)
            for value in (record.get(name, _LEFT_OUT) for name in self.names)
        ]
        text = urlsafe_b64encode(b"".join(raws)).decode("ascii")
        if all(raw is not _GAP for raw in raws):
            return self.prefix + text
        return self.prefix + "".join(
            ABSENT if raw is _GAP else text[index * FIELD_CHARS : (index + 1) * FIELD_CHARS]
            for index, raw in enumerate(raws)
        )

    def digests(self, columns: Mapping[str, Sequence[Any]], size: int, *, absent: object) -> list[str]:
        """The digests of ``size`` records given field by field: what :meth:`digest` gives each record.

        Args:
            columns: per field, the records' values in order (fields outside :attr:`names` are not part of
                the digests; a field not among the columns is left out of every record).
            size: how many records.
            absent: the value that stands for a field the record leaves out.
        """
        if size == 0:
            return []
        raws: list[list[bytes]] = []
        gaps: dict[int, set[int]] = {}
        for index, name in enumerate(self.names):
            values = columns.get(name)
            column, gapped = ([_GAP] * size, True) if values is None else self._raw_column(name, values, absent)
            if gapped:
                for row, raw in enumerate(column):
                    if raw is _GAP:
                        gaps.setdefault(row, set()).add(index)
            raws.append(column)
        # One base64 text for the page, row by row: each record's part is its field digests side by side.
        text = urlsafe_b64encode(b"".join(chain.from_iterable(zip(*raws, strict=True)))).decode("ascii")
        width = FIELD_CHARS * len(self.names)
        prefix = self.prefix
        if not width:
            return [prefix] * size
        out = [prefix + text[start : start + width] for start in range(0, size * width, width)]
        for row, left_out in gaps.items():
            part = text[row * width : (row + 1) * width]
            out[row] = prefix + "".join(
                ABSENT if index in left_out else part[index * FIELD_CHARS : (index + 1) * FIELD_CHARS]
                for index in range(len(self.names))
            )
        return out

    def _raw_column(self, name: str, values: Sequence[Any], absent: object) -> tuple[list[bytes], bool]:
        """The raw digest of each value of field ``name`` (:data:`_GAP` where the value is ``absent``), and
        whether a value was ``absent``."""
        cache = self._cache[name]  # texts repeat (picklists, states): remembered per field
        null = self._null
        fresh, form = _FIELD_HASH.copy, canonical_form
        gapped = False
        out: list[bytes] = []
        append = out.append
        for value in values:
            if type(value) is str:  # the common case: _raw_digest inlined
                raw = cache.get(value)
                if raw is None:
                    hashed = fresh()
                    hashed.update(form(value).encode("utf-8"))
                    raw = hashed.digest()
                    if len(cache) < _CACHE_SIZE:
                        cache[value] = raw
            elif value is None:
                raw = null
            elif value is absent:
                raw = _GAP
                gapped = True
            else:
                raw = _raw_digest(value)
            append(raw)
        return out, gapped

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
