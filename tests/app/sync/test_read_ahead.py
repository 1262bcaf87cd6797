"""Reading ahead keeps order, hands over errors where they happened, and stops."""

from __future__ import annotations

import threading

import pytest

from app.sync.read_ahead import read_ahead


def test_items_arrive_in_order() -> None:
    assert list(read_ahead(iter(range(100)))) == list(range(100))


def test_an_error_arrives_after_the_items_before_it() -> None:
    def source():
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    pages = read_ahead(source())
    assert [next(pages), next(pages)] == [1, 2]
    with pytest.raises(RuntimeError, match="page 3 failed"):
        next(pages)


def test_stopping_early_closes_the_source_and_its_thread() -> None:
    closed = threading.Event()
    produced = []

    def source():
        try:
            for n in range(1_000):
                produced.append(n)
                yield n
        finally:
            closed.set()

    pages = read_ahead(source(), depth=1)
    assert next(pages) == 0
    pages.close()
    assert closed.wait(5)
    # At most the item handed over, the one queued and the one being offered.
    assert len(produced) <= 3
    assert not any(t.name == "sync-read-ahead" and t.is_alive() for t in threading.enumerate())
