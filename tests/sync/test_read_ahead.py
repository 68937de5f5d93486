"""Pages read ahead by a background thread come out as the connector gave them, and no further."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from crmsync.connectors.base import Cursor, ExternalRecord, Page
from crmsync.sync.pull import ChangeStream, ReadAhead

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _pages(count: int, size: int, read: list[int], fail_at: int | None = None):
    for n in range(count):
        if n == fail_at:
            raise RuntimeError(f"page {n} broke")
        read.append(n)
        records = [ExternalRecord(f"{n}-{i}", T0, {"n": n}) for i in range(size)]
        yield Page(records, Cursor(T0, f"{n}-{size - 1}"))


def test_pages_come_out_in_order_and_the_stream_cuts_the_same_chunks():
    read: list[int] = []
    plain = ChangeStream(_pages(7, 30, []), size=100)
    ahead = ChangeStream(ReadAhead(_pages(7, 30, read), limit=100), size=100)
    while True:
        expected, got = plain.take(), ahead.take()
        assert [r.id for r in got[0]] == [r.id for r in expected[0]]
        assert got[1] == expected[1]
        if plain.exhausted:
            break
    assert ahead.exhausted
    assert read == list(range(7))


def test_no_page_is_read_before_the_first_is_asked_for_and_at_most_the_limit_waits():
    read: list[int] = []
    pages = ReadAhead(_pages(50, 10, read), limit=40)
    assert read == []  # opening a stream makes no API call
    next(pages)
    waited = threading.Event()
    for _ in range(1500):  # let the reader fill up to its limit (however busy the machine)
        if len(read) >= 5:
            break
        waited.wait(0.02)
    waited.wait(0.3)
    # Page 0 taken, 40 records (pages 1-4) waiting, page 5 read and held back: not the 50 pages.
    assert 5 <= len(read) <= 6
    pages.close()


def test_an_error_of_the_reader_is_raised_where_its_page_was_wanted():
    pages = ReadAhead(_pages(5, 10, [], fail_at=3), limit=100)
    assert [next(pages).records[0].values["n"] for _ in range(3)] == [0, 1, 2]
    with pytest.raises(RuntimeError, match="page 3 broke"):
        next(pages)


def test_closing_stops_the_reader():
    read: list[int] = []
    pages = ReadAhead(_pages(1000, 10, read), limit=20)
    next(pages)
    pages.close()
    threading.Event().wait(0.2)
    stopped_at = len(read)
    threading.Event().wait(0.2)
    assert len(read) == stopped_at < 10


def test_parents_are_read_beside_the_chunk_and_waited_for_where_wanted():
    """The association read runs while the caller goes on; ``parent_ids`` waits for it."""
    from crmsync.sync.pull import PullChunk, read_ahead

    release, started = threading.Event(), threading.Event()

    def read() -> dict[str, str]:
        started.set()
        assert release.wait(10)
        return {"c1": "p1"}

    chunk = PullChunk(None, read_ahead(read), None)
    assert started.wait(10)  # the read is under way, and the constructor has returned
    release.set()
    assert chunk.parent_ids == {"c1": "p1"}
    assert chunk.parents == {"c1": "p1"}  # resolved once


def test_an_error_of_the_parents_read_is_raised_where_they_are_wanted():
    from crmsync.sync.pull import PullChunk, read_ahead

    def read() -> dict[str, str]:
        raise ConnectionError("association read failed")

    chunk = PullChunk(None, read_ahead(read), None)
    with pytest.raises(ConnectionError, match="association read failed"):
        _ = chunk.parent_ids
