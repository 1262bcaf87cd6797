"""Fetch the next page while the current one is mapped and written."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(pages: Iterator[T], *, depth: int = 1) -> Iterator[T]:
    """Yield what ``pages`` yields, producing up to ``depth`` items ahead on a thread.

    Only for sources whose reads have no side effects: the producer moves on
    before the consumer has committed the previous page. Exceptions of the
    producer are raised in the consumer at the point they occurred; closing the
    returned iterator stops the producer and closes ``pages``.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed over to the consumer
            put(_Failure(exc))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="sync-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=30)
