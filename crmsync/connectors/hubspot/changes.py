"""Reading an object's changes through HubSpot's CRM search: no loss, no duplicates, past 10,000.

HubSpot search allows one sort rule, pages by offset, and stops at the 10,000th result. Ties on
the last-modified date come back in no promised order, and offsets shift when a record changes
mid-read. So every page is a fresh search from the last timestamp seen (keyset paging):
- search ``modified GTE T`` (T = the newest timestamp yielded), sorted by modified, offset 0,
  and skip the ids already yielded at T. Every record older than the page's last timestamp is
  then surely in the page, whatever the tie order, and the 10,000 cap is never approached;
- if a whole page sits on T (a tie group bigger than a page), T is read on its own: EQ T,
  sorted by hs_object_id, keyset-paged with hs_object_id GT the last id; then ``modified GT T``.

A page's cursor is the furthest point up to which *every* record has been yielded: a
timestamp's group of records only counts once a newer timestamp (or the end) is seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crmsync.connectors.base import Cursor, ExternalRecord, Page
from crmsync.connectors.hubspot.settings import ID_PROPERTY, SEARCH_PAGE_SIZE

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware (or UTC-naive) datetime, rounded down."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds, exactly."""
    return EPOCH + ms * _MS


def parse_time(text: str) -> int:
    """Epoch ms from a HubSpot datetime value (ISO 8601 with Z, or ms digits)."""
    if text.isdigit():
        return int(text)
    return to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def id_key(record_id: str) -> tuple[int, str]:
    """Numeric order for HubSpot's numeric string ids."""
    return len(record_id), record_id


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: id, last-modified ms, property values."""

    id: str
    modified_ms: int
    values: dict


# (filters, sort property, after, limit) -> (hits, more results exist)
SearchFn = Callable[[list[dict], str, int, int], tuple[list[Hit], bool]]


class ChangeReader:
    """One read of an object's changes after ``since`` (and not after ``until``)."""

    def __init__(
        self,
        search: SearchFn,
        modified_property: str,
        since: Cursor,
        until: datetime | None = None,
        page_size: int = SEARCH_PAGE_SIZE,
    ) -> None:
        self.search = search
        self.prop = modified_property
        self.since = since
        self.until_ms = to_ms(until) if until else None
        self.page_size = page_size
        self.since_ms: int | None = None
        self.since_id: str | None = None
        if since.modified_at is not None:
            self.since_ms = to_ms(since.modified_at)
            if from_ms(self.since_ms) == since.modified_at.replace(tzinfo=since.modified_at.tzinfo or UTC):
                self.since_id = since.id
            else:  # a cursor between two milliseconds: everything from the next one on is after it
                self.since_ms += 1
        self._top_ms: int | None = None  # newest timestamp yielded so far
        self._top_ids: set[str] = set()  # ids yielded at that timestamp

    def pages(self) -> Iterator[Page]:
        """Pages of records, oldest first, each with the cursor that safely resumes after it."""
        stream = self._stream()
        buffer: list[ExternalRecord] = []
        group_ms: int | None = None  # the newest timestamp group, which may still be incomplete
        group_max = ""
        safe = self.since
        pending = next(stream, None)
        while pending is not None:
            hit, exact = pending
            if group_ms is None or hit.modified_ms > group_ms:
                if group_ms is not None:
                    safe = Cursor(from_ms(group_ms), group_max)  # the older group is complete
                group_ms, group_max = hit.modified_ms, hit.id
            elif id_key(hit.id) > id_key(group_max):
                group_max = hit.id
            if exact:  # in id order at one timestamp: everything up to this id is done
                safe = Cursor(from_ms(hit.modified_ms), hit.id)
            buffer.append(ExternalRecord(hit.id, from_ms(hit.modified_ms), hit.values))
            pending = next(stream, None)
            if len(buffer) == self.page_size or pending is None:
                complete = pending is None or pending[0].modified_ms > group_ms
                yield Page(buffer, Cursor(from_ms(group_ms), group_max) if complete else safe)
                buffer = []

    # --- the record stream --------------------------------------------------------------------
    def _stream(self) -> Iterator[tuple[Hit, bool]]:
        """Records in modification order; True marks those read in id order at one timestamp."""
        floor, inclusive = self.since_ms, True
        while True:
            hits, more = self.search(self._bounds(floor, inclusive), self.prop, 0, self.page_size)
            for hit in hits:
                if (
                    inclusive
                    and hit.modified_ms == floor
                    and (hit.id in self._top_ids or self._before_since(hit))
                ):
                    continue  # yielded by the previous page, or not after ``since``
                yield self._emit(hit), False
            if not more or not hits:
                return
            last_ms = hits[-1].modified_ms
            if floor is not None and last_ms == floor:  # the whole page is one timestamp: read it by id
                yield from self._one_timestamp(floor)
                inclusive = False
            else:
                floor, inclusive = last_ms, True

    def _one_timestamp(self, at_ms: int) -> Iterator[tuple[Hit, bool]]:
        """All records at one timestamp, in hs_object_id order, keyset-paged (never near the cap)."""
        last_id = self.since_id if at_ms == self.since_ms and self.since_id else None
        yielded = set(self._top_ids) if self._top_ms == at_ms else set()
        while True:
            filters = [{"propertyName": self.prop, "operator": "EQ", "value": str(at_ms)}]
            if last_id:
                filters.append({"propertyName": ID_PROPERTY, "operator": "GT", "value": last_id})
            hits, more = self.search(filters, ID_PROPERTY, 0, self.page_size)
            for hit in hits:
                last_id = hit.id
                if hit.id not in yielded:
                    yield self._emit(hit), True
            if not more or not hits:
                return

    def _emit(self, hit: Hit) -> Hit:
        if self._top_ms is None or hit.modified_ms > self._top_ms:
            self._top_ms, self._top_ids = hit.modified_ms, {hit.id}
        else:
            self._top_ids.add(hit.id)
        return hit

    def _before_since(self, hit: Hit) -> bool:
        return (
            self.since_id is not None
            and hit.modified_ms == self.since_ms
            and (id_key(hit.id) <= id_key(self.since_id))
        )

    def _bounds(self, floor: int | None, inclusive: bool) -> list[dict]:
        filters = []
        if floor is not None:
            filters.append(
                {"propertyName": self.prop, "operator": "GTE" if inclusive else "GT", "value": str(floor)}
            )
        if self.until_ms is not None:
            filters.append({"propertyName": self.prop, "operator": "LTE", "value": str(self.until_ms)})
        return filters
