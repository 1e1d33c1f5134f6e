"""One partition of a pass: the source records of one id range (see :mod:`tandem.sync.partitions`).

A pass given a :class:`PassPart` reads only that range, leaves the watermark where it is and does not try again the
failed records it did not read; the part notes what the job that split the pass needs once every part is done: the
newest modification read (the watermark), and the failed records none of the parts read (tried again then).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import pandas as pd

from tandem.adapter import RecordAdapter
from tandem.errors import FatalSyncError
from tandem.id_ranges import IdRange, RangeReader


@dataclass
class PassPart:
    """The id range a pass reads, and what it saw.

    Attributes:
        id_range: the source ids to read.
        newest: the newest ``modified_at`` read (``None`` until a record was read).
        unread_retries: after the pass, the source ids it would have tried again (failed before, or coupled by
            hand) that the range's read did not yield.
    """

    id_range: IdRange
    newest: datetime | None = None
    unread_retries: set[str] = field(default_factory=set)

    def reader(self, source: RecordAdapter, side: str) -> Callable[..., Iterator[pd.DataFrame]]:
        """:meth:`read` from ``source`` (at ``side``), called as ``read_changed_since``."""
        return partial(self.read, source, side=side)

    def read(
        self, source: RecordAdapter, entity: str, since: datetime | None, *, side: str, fields: Sequence[str],
        page_size: int,
    ) -> Iterator[pd.DataFrame]:
        """The pages of the range's records changed at or after ``since`` (``source`` is the ``side`` position, ``crm``
        or ``erp``); each page's newest time is noted.

        Raises:
            FatalSyncError: ``PARTITIONS_UNSUPPORTED`` when the source system cannot read an id range.
        """
        if not isinstance(source, RangeReader):
            raise FatalSyncError(f"{source.system} cannot read a range of record ids: run with one partition",
                                 code="PARTITIONS_UNSUPPORTED", system=side)
        for page in source.read_id_range(entity, since, self.id_range, fields=fields, page_size=page_size):
            newest = page["modified_at"].max() if len(page) else None
            if newest is not None and pd.notna(newest):
                moment = newest.to_pydatetime()
                self.newest = moment if self.newest is None else max(self.newest, moment)
            yield page
