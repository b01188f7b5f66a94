"""Meetings as iCalendar (RFC 5545): one meeting, or a user's private feed.

Every event has a stable UID (``meeting-<id>@zunyi-crm``: the id never changes, so a calendar updates the event
instead of adding a second one), ``SEQUENCE`` = :attr:`Meeting.sequence` (raised by the domain on each change a
calendar must notice) and ``DTSTAMP`` = the meeting's last change. Times carry ``TZID=Asia/Shanghai`` with its
``VTIMEZONE``; a cancelled meeting stays in the feed as ``STATUS:CANCELLED`` so subscribed calendars drop it.

The text is written here, not through ``icalendar``'s object model (issue 11): building and serialising one
``Event`` with ``icalendar`` cost ≈ 0.75 ms (parameter objects, TZID look-ups and per-character folding for each
of its 14 properties), so the leader's feed of 805 meetings took ≈ 620 ms of Python at provincial scale. The
writer below produces the very same bytes (``icalendar``'s property order, TEXT escaping and 75-octet folding;
``tests/meetings/test_ics.py`` compares it byte for byte with ``icalendar``'s output and parses it back with
``icalendar``) in ≈ 35 µs an event. Only the ``VTIMEZONE`` still comes from ``icalendar``, built once per process.

The feed reads plain columns (no ORM objects, no eager-loaded relations: the VEVENT uses none), and each event's
text is memoised per process keyed by *everything it is written from* (all those columns and the base URL,
:func:`_feed_event`): a meeting that changed in any way is a new key, so a memoised event is never stale; the
cache is bounded (:data:`EVENT_CACHE_SIZE`). The feed's ETag is a hash of the body: a polling calendar that sends
``If-None-Match`` gets a 304 without the 400 KB (``calendar_views.feed_ics``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, namedtuple
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any

import sqlalchemy as sa
from icalendar import Calendar, Event
from sqlalchemy.dialects.postgresql import aggregate_order_by

from crm.core import cache as versioned
from crm.core.access import Action, scope
from crm.core.time import SHANGHAI, utcnow
from crm.extensions import db
from crm.meetings.domain import meeting_link
from crm.meetings.models import Meeting, MeetingStatus

PRODID = "-//Zunyi CRM//Meetings Calendar//ZH"
UID_DOMAIN = "zunyi-crm"
TIMEZONE = "Asia/Shanghai"
FEED_NAME = "遵义融入成渝·会议日历"
# The feed holds the meetings from 90 days ago on and everything ahead (issue 11: its size and time must not grow
# with years of history). A year back was 1,316 of 2,000 meetings (658 KB, 9.4 s p50 at 8 clients) at provincial
# scale; subscribing calendars keep what they already fetched, and older meetings stay on the calendar page and
# their own /meetings/<id>.ics. Ahead it is not bounded: what is planned ahead is the programme's next year or so
# (the yearly job plans one year at a time; 648 meetings in the bench data), it does not pile up with the years,
# and a leader's phone must show every meeting already booked. benchmarks/README.md ("Provincial scale").
FEED_HISTORY = timedelta(days=90)
CONTENT_TYPE = "text/calendar; charset=utf-8"

STATUS = {
    MeetingStatus.PLANNED: "TENTATIVE",
    MeetingStatus.CONFIRMED: "CONFIRMED",
    MeetingStatus.HELD: "CONFIRMED",
    MeetingStatus.CANCELLED: "CANCELLED",
}

# What an event is written from: plain columns of ``meetings`` (a Row of these, or a Meeting, serves alike).
EVENT_COLUMNS = (Meeting.id, Meeting.kind, Meeting.title, Meeting.starts_at, Meeting.ends_at, Meeting.venue,
                 Meeting.city, Meeting.status, Meeting.agenda, Meeting.cancel_reason, Meeting.sequence,
                 Meeting.created_at, Meeting.updated_at)

EventRow = namedtuple("EventRow", [column.key for column in EVENT_COLUMNS])  # a plain, hashable key
# Memoised events a worker keeps (≈ 0.5 KB each: ≈ 5 MB at most). 2,000 meetings in three years at provincial scale.
EVENT_CACHE_SIZE = 10_000
FOLD_OCTETS = 74  # octets of content per physical line (icalendar's folding: the next character would reach 75)


def meeting_uid(meeting: Any) -> str:
    return f"meeting-{meeting.id}@{UID_DOMAIN}"


def meeting_url(meeting: Any, base_url: str) -> str:
    return base_url.rstrip("/") + meeting_link(meeting.id)


def summary(meeting: Any) -> str:
    text = f"{meeting.kind.label}:{meeting.title}"
    return f"[已取消] {text}" if meeting.status is MeetingStatus.CANCELLED else text


def location(meeting: Any) -> str:
    return " ".join(part for part in ((meeting.city or "").strip(), (meeting.venue or "").strip()) if part)


def description(meeting: Any, url: str) -> str:
    agenda = (meeting.agenda or "").strip()
    parts = [agenda] if agenda else []
    if meeting.status is MeetingStatus.CANCELLED and meeting.cancel_reason:
        parts.insert(0, f"会议已取消:{meeting.cancel_reason}")
    parts.append(f"详情:{url}")
    return "\n\n".join(parts)


# --- RFC 5545 text ---------------------------------------------------------------------------------------------

def escape_text(text: str) -> str:
    r"""A TEXT value (RFC 5545 §3.3.11): ``\`` ``;`` ``,`` escaped, any line break written ``\n`` (the same
    replacements, in the same order, as ``icalendar``)."""
    return (text.replace(r"\N", "\n").replace("\\", "\\\\").replace(";", r"\;").replace(",", r"\,")
            .replace("\r\n", r"\n").replace("\n", r"\n").replace("\r", r"\n"))


def unescaped_text(text: str) -> str:
    """The value of an ``X-WR-…`` property, written as ``icalendar`` writes an unknown property (unescaped: clients
    show ``X-WR-CALNAME`` as is); a line break would end the content line, so it becomes a space."""
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def fold(line: str) -> bytes:
    """One content line, UTF-8, folded (RFC 5545 §3.1) into pieces of at most 74 octets, never inside a UTF-8
    sequence and never right after a ``\\`` or ``^`` (a split escape confuses some clients): ``icalendar``'s rule."""
    raw = line.encode()
    if len(raw) <= FOLD_OCTETS:
        return raw
    pieces = []
    start, end = 0, len(raw)
    while end - start > FOLD_OCTETS:
        cut = start + FOLD_OCTETS
        while raw[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: the character starts earlier
            cut -= 1
        if raw[cut - 1] in b"\\^":
            cut -= 1
        pieces.append(raw[start:cut])
        start = cut
    pieces.append(raw[start:])
    return b"\r\n ".join(pieces)


def _utc_stamp(value: datetime | None) -> str:
    value = value or utcnow()
    value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return f"{value.year:04d}{value.month:02d}{value.day:02d}T{value.hour:02d}{value.minute:02d}{value.second:02d}Z"


def _local_stamp(value: datetime) -> str:
    value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(SHANGHAI)
    return f"{value.year:04d}{value.month:02d}{value.day:02d}T{value.hour:02d}{value.minute:02d}{value.second:02d}"


def event_ical(meeting: Any, base_url: str) -> bytes:
    """The meeting as a VEVENT, CRLF-terminated (times in Asia/Shanghai with TZID; the VTIMEZONE is the
    calendar's). ``meeting``: a :class:`Meeting` or a row of :data:`EVENT_COLUMNS`."""
    url = meeting_url(meeting, base_url)
    cancelled = meeting.status is MeetingStatus.CANCELLED
    stamp = _utc_stamp(meeting.updated_at)
    place = location(meeting)
    lines = [
        b"BEGIN:VEVENT",
        fold("SUMMARY:" + escape_text(summary(meeting))),
        f"DTSTART;TZID={TIMEZONE}:{_local_stamp(meeting.starts_at)}".encode(),
        f"DTEND;TZID={TIMEZONE}:{_local_stamp(meeting.ends_at)}".encode(),
        f"DTSTAMP:{stamp}".encode(),
        fold("UID:" + escape_text(meeting_uid(meeting))),
        f"SEQUENCE:{meeting.sequence or 0}".encode(),
        fold("CATEGORIES:" + escape_text(meeting.kind.label)),
        f"CREATED:{_utc_stamp(meeting.created_at)}".encode(),
        fold("DESCRIPTION:" + escape_text(description(meeting, url))),
        f"LAST-MODIFIED:{stamp}".encode(),
    ]
    if place:
        lines.append(fold("LOCATION:" + escape_text(place)))
    lines += [
        f"STATUS:{STATUS[meeting.status]}".encode(),
        b"TRANSP:TRANSPARENT" if cancelled else b"TRANSP:OPAQUE",
        fold("URL:" + url),
        b"END:VEVENT",
        b"",
    ]
    return b"\r\n".join(lines)


@cache
def _vtimezone() -> bytes:
    """Asia/Shanghai's VTIMEZONE as ``icalendar`` builds it (its history up to 1991 included), once a process."""
    cal = Calendar()
    event = Event()
    event.add("dtstart", datetime(2026, 1, 1, tzinfo=SHANGHAI))
    cal.add_component(event)
    cal.add_missing_timezones()
    (zone,) = cal.walk("VTIMEZONE")
    return zone.to_ical()


def calendar_ical(events: Iterable[bytes], *, name: str, method: str | None = None) -> bytes:
    """A VCALENDAR around already written VEVENTs (property order as ``icalendar`` writes it)."""
    head = [b"BEGIN:VCALENDAR", b"VERSION:2.0", fold("PRODID:" + escape_text(PRODID)), b"CALSCALE:GREGORIAN"]
    if method:
        head.append(fold("METHOD:" + method))
    head += [
        fold("X-WR-CALNAME:" + unescaped_text(name)),
        b"REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        b"X-PUBLISHED-TTL:PT1H",  # a hint to subscribing calendars: look again every hour
        fold("X-WR-TIMEZONE:" + TIMEZONE),
        b"",
    ]
    return b"".join((b"\r\n".join(head), _vtimezone(), *events, b"END:VCALENDAR\r\n"))


def meeting_ics(meeting: Meeting, base_url: str) -> bytes:
    """One meeting as a VCALENDAR (the ``.ics`` download)."""
    return calendar_ical([event_ical(meeting, base_url)], name=f"{meeting.kind.label}:{meeting.title}",
                         method="PUBLISH")


def feed_statement(user: Any, *, now: datetime | None = None) -> sa.Select:
    """What the user's feed holds: every meeting they may read that ends after :data:`FEED_HISTORY` ago (90 days),
    cancelled ones too, as rows of :data:`EVENT_COLUMNS` by start time."""
    start = (now or utcnow()) - FEED_HISTORY
    stmt = sa.select(*EVENT_COLUMNS).where(Meeting.ends_at > start)
    return scope(user, Meeting, stmt, Action.VIEW).order_by(Meeting.starts_at, Meeting.id)


@lru_cache(maxsize=EVENT_CACHE_SIZE)
def _feed_event(row: EventRow, base_url: str) -> bytes:
    """:func:`event_ical`, memoised on its whole input (a pure function of it: the key *is* the content)."""
    return event_ical(row, base_url)


def _write_feed(rows: Iterable[Any], base_url: str) -> bytes:
    events = []
    for row in rows:
        event = EventRow._make(row)
        # updated_at is never empty in the database; were it, the stamp would be "now": not memoised.
        events.append(_feed_event(event, base_url) if event.updated_at else event_ical(event, base_url))
    return calendar_ical(events, name=FEED_NAME, method="PUBLISH")


# --- PostgreSQL: the whole feed kept while its rows are unchanged ----------------------------------------------
# PostgreSQL hashes the feed's rows itself: sha256 of the text of every row (all of EVENT_COLUMNS, in feed order;
# a record's text quotes its fields, so different rows never give the same text). A feed whose rows hash the same
# is the same bytes, so a worker keeps the last bodies it wrote by (that hash, base URL) and answers from them
# after one narrow statement (≈ 1 ms of the database's time) instead of loading and converting 805 rows
# (≈ 12 ms of Python). A body is stored only under the hash read *in the same statement* as its rows (one
# snapshot), so a change committed in between can never be filed under the old hash. SQLite (the demo) always
# writes the feed. Bounded: FEED_CACHE_BYTES a worker.
FEED_CACHE_BYTES = 16 * 1024 * 1024


class _Bodies:
    """The last feeds written, by (hash of their rows, base URL), least recently used dropped first."""

    def __init__(self, budget: int) -> None:
        self.budget, self.size = budget, 0
        self.items: OrderedDict[tuple[bytes, str], bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[bytes, str]) -> bytes | None:
        with self.lock:
            body = self.items.get(key)
            if body is not None:
                self.items.move_to_end(key)
            return body

    def put(self, key: tuple[bytes, str], body: bytes) -> None:
        if len(body) > self.budget:
            return
        with self.lock:
            old = self.items.pop(key, None)
            self.size += len(body) - (len(old) if old is not None else 0)
            self.items[key] = body
            while self.size > self.budget:
                _, dropped = self.items.popitem(last=False)
                self.size -= len(dropped)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.size = 0


_BODIES = _Bodies(FEED_CACHE_BYTES)


def _rows_hash(feed: Any) -> Any:
    """sha256 over the text of ``feed``'s rows in feed order (PostgreSQL; NULL for an empty feed)."""
    text = sa.cast(sa.func.row(*feed.c), sa.Text)
    joined = sa.func.string_agg(text, aggregate_order_by(sa.literal("\n"), feed.c.starts_at, feed.c.id))
    return sa.func.sha256(sa.func.convert_to(joined, "UTF8"))


# What a feed reads, as data versions (crm/core/cache.py): the meetings (``meetings``) and a commissioner's scope
# (crm/meetings/access.py): the meetings' enterprises and officials (``meetings``, e8b3f1c6a2d4), their assignments.
FEED_KINDS = ("meetings", "assignments")
_KEY_TIME = datetime(2000, 1, 1, tzinfo=UTC)  # the statement's shape and scope, whatever the time


def feed_ics(user: Any, base_url: str, *, now: datetime | None = None) -> bytes:
    """The user's private calendar feed as a VCALENDAR.

    On PostgreSQL the body is kept per process under :data:`FEED_KINDS`' versions (crm/core/cache.py), keyed by
    the feed's statement (the user's scope) and the base URL, until the first of its meetings leaves the 90 days:
    with nothing written, time only ever drops meetings from the feed (those that ended 90 days ago), never adds
    one, so the kept body is exact until then. A view is then one statement for the versions, where hashing the
    rows was ≈ 6 ms of the database's time (the eighth provincial-scale pass). Without the versions (a transaction
    that wrote meetings), the rows' hash below."""
    now = now or utcnow()
    stmt = feed_statement(user, now=now)
    if db.session.get_bind().dialect.name != "postgresql":
        return _write_feed(db.session.execute(stmt), base_url)
    stamp = versioned.versions()
    if stamp is not None:
        key = ("ics.feed", base_url, *versioned.statement_key(feed_statement(user, now=_KEY_TIME)))
        return versioned.cached(stamp, FEED_KINDS, key, lambda: _kept_feed(stmt, base_url, now),
                            fresh=lambda kept: kept[2] <= now < kept[1])[0]
    return _hashed_feed(stmt, base_url)


def _kept_feed(stmt: sa.Select, base_url: str, now: datetime) -> tuple[bytes, datetime, datetime]:
    """The feed of ``stmt`` (read at ``now``) and the times it holds for with nothing written: from ``now`` (an
    earlier moment may hold meetings that had left it) until its earliest-ending meeting leaves the window
    (:data:`FEED_HISTORY` after its end; an empty feed, until a meeting is written)."""
    rows = db.session.execute(stmt).all()
    ends = [row.ends_at for row in rows]
    until = min(ends) + FEED_HISTORY if ends else datetime.max.replace(tzinfo=UTC)
    return _write_feed(rows, base_url), until, now


def _hashed_feed(stmt: sa.Select, base_url: str) -> bytes:
    """The feed of ``stmt``, kept by the hash of its rows (the bodies a worker wrote last)."""
    digest = db.session.scalar(sa.select(_rows_hash(stmt.order_by(None).subquery("feed"))))
    body = _BODIES.get((digest, base_url)) if digest is not None else None
    if body is not None:
        return body
    feed = stmt.order_by(None).cte("feed")
    rows = db.session.execute(sa.select(sa.select(_rows_hash(feed)).scalar_subquery().label("digest"), *feed.c)
                              .order_by(feed.c.starts_at, feed.c.id)).all()
    body = _write_feed((row[1:] for row in rows), base_url)
    if rows:
        _BODIES.put((rows[0].digest, base_url), body)
    return body
