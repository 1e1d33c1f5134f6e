"""Search result sets: the matching ids are fixed once per ``searchId`` and paged from memory."""

from __future__ import annotations

import secrets
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from emulators.erp.soapfaults import SoapFault

SEARCH_TTL = timedelta(minutes=15)
MAX_KEPT_SEARCHES = 200
MAX_KEPT_IDS = 20_000_000  # 160 MB of ids across all kept searches


@dataclass
class ResultSet:
    """One search's ids, page size and when it was last used."""

    search_type: str  # the basic search it came from (``TransactionSearchBasic``)
    ids: array[int]
    page_size: int
    last_used: datetime

    @property
    def total_pages(self) -> int:
        """Number of pages (0 when nothing matched)."""
        return -(-len(self.ids) // self.page_size)

    def page(self, index: int) -> list[int]:
        """The ids on page ``index`` (1-based).

        Raises:
            SoapFault: ``INVALID_PAGE_INDEX`` outside 1..totalPages (page 1 of an empty result is allowed).
        """
        if index < 1 or index > max(self.total_pages, 1):
            raise SoapFault(
                "INVALID_PAGE_INDEX",
                f"Invalid page index {index}; the search has {self.total_pages} page(s).",
            )
        start = (index - 1) * self.page_size
        return self.ids[start:start + self.page_size].tolist()


class SearchRegistry:
    """Keeps recent result sets by ``searchId``; they expire 15 minutes after their last use.

    The oldest sets are dropped when more than ``MAX_KEPT_SEARCHES`` sets or ``MAX_KEPT_IDS`` ids are kept.
    """

    def __init__(self) -> None:
        self._sets: OrderedDict[str, ResultSet] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, result: ResultSet) -> str:
        """Keep ``result`` and return its new ``searchId``."""
        search_id = "WEBSERVICES_" + secrets.token_hex(16)
        with self._lock:
            self._sets[search_id] = result
            kept = sum(len(s.ids) for s in self._sets.values())
            while len(self._sets) > 1 and (len(self._sets) > MAX_KEPT_SEARCHES or kept > MAX_KEPT_IDS):
                _, dropped = self._sets.popitem(last=False)
                kept -= len(dropped.ids)
        return search_id

    def get(self, search_id: str, now: datetime) -> ResultSet:
        """The result set of ``search_id``, touched.

        Raises:
            SoapFault: ``INVALID_SEARCH`` when the id is unknown or expired.
        """
        with self._lock:
            result = self._sets.get(search_id)
            if result is None or now - result.last_used > SEARCH_TTL:
                self._sets.pop(search_id, None)
                raise SoapFault("INVALID_SEARCH", "The search has expired or its searchId is invalid; run it again.")
            result.last_used = now
            self._sets.move_to_end(search_id)
            return result

    def clear(self) -> None:
        """Forget every search."""
        with self._lock:
            self._sets.clear()
