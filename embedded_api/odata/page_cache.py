"""Rendered OData pages, reused while the store has not changed.

Dashboards and BI refreshes ask for the same pages again and again; building a
page costs a query and the encoding of every row, answering it from memory
costs neither. A page is kept under everything its bytes depend on (the
caller's organisation, the service root, the path, every query parameter, the
Accept and Prefer headers) together with the store's commit marker read
before it was built (see ``embedded_api.store_version``). Every request reads
the marker again, and the first one to see it changed drops every page, so an
answer never outlives a commit to the store, made by whoever.

The pages kept are bounded in bytes, the least recently used going first, and
a page larger than a sixteenth of that bound is not kept at all, so that a long
pull of large pages cannot sweep the cache or grow the server.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Page:
    """A rendered answer: its body and the headers that go with it."""

    body: bytes
    headers: tuple[tuple[str, str], ...]


class PageCache:
    """A bounded LRU of rendered pages, valid for one reading of the store's marker."""

    def __init__(
        self,
        version: Callable[[], Hashable],
        *,
        max_bytes: int = MAX_BYTES,
        max_page_bytes: int | None = None,
    ) -> None:
        self._version = version
        self.max_bytes = max_bytes
        self.max_page_bytes = max_bytes // 16 if max_page_bytes is None else max_page_bytes
        self._lock = threading.Lock()
        self._pages: OrderedDict[Hashable, Page] = OrderedDict()
        self._size = 0
        self._current: Hashable = object()

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def lookup(self, key: Hashable) -> tuple[Page | None, Hashable]:
        """The page kept for ``key`` if the store is unchanged, and the marker read now.

        Pass the marker to :meth:`keep` with the page built on a miss.
        """
        version = self._version()
        with self._lock:
            if version != self._current:
                self._pages.clear()
                self._size = 0
                self._current = version
                return None, version
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page, version

    def keep(self, key: Hashable, version: Hashable, page: Page) -> None:
        """Keep ``page``, built from the store as it was at ``version`` or later."""
        size = len(page.body)
        if size > self.max_page_bytes:
            return
        with self._lock:
            # The store changed while the page was built: it may mix both states.
            if version != self._current:
                return
            previous = self._pages.pop(key, None)
            if previous is not None:
                self._size -= len(previous.body)
            self._pages[key] = page
            self._size += size
            while self._size > self.max_bytes:
                _, evicted = self._pages.popitem(last=False)
                self._size -= len(evicted.body)
