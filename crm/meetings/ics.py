"""Meetings as iCalendar (RFC 5545, the ``icalendar`` package): one meeting, or a user's private feed.

Every event has a stable UID (``meeting-<id>@zunyi-crm``: the id never changes, so a calendar updates the event
instead of adding a second one), ``SEQUENCE`` = :attr:`Meeting.sequence` (raised by the domain on each change a
calendar must notice) and ``DTSTAMP`` = the meeting's last change. Times carry ``TZID=Asia/Shanghai`` with its
``VTIMEZONE``; a cancelled meeting stays in the feed as ``STATUS:CANCELLED`` so subscribed calendars drop it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event

from crm.core.time import to_local, utcnow
from crm.extensions import db
from crm.meetings.domain import meeting_link, meetings_statement
from crm.meetings.models import Meeting, MeetingStatus

PRODID = "-//Zunyi CRM//Meetings Calendar//ZH"
UID_DOMAIN = "zunyi-crm"
TIMEZONE = "Asia/Shanghai"
FEED_NAME = "遵义融入成渝·会议日历"
# The feed holds the meetings from 90 days ago on and everything ahead (issue 11: its size and time must not grow
# with years of history). A year back was 1,316 of 2,000 meetings (658 KB, 9.4 s p50 at 8 clients) at provincial
# scale; subscribing calendars keep what they already fetched, and older meetings stay on the calendar page and
# their own /meetings/<id>.ics. benchmarks/README.md ("Provincial scale") has the numbers.
FEED_HISTORY = timedelta(days=90)
CONTENT_TYPE = "text/calendar; charset=utf-8"

STATUS = {
    MeetingStatus.PLANNED: "TENTATIVE",
    MeetingStatus.CONFIRMED: "CONFIRMED",
    MeetingStatus.HELD: "CONFIRMED",
    MeetingStatus.CANCELLED: "CANCELLED",
}


def meeting_uid(meeting: Meeting) -> str:
    return f"meeting-{meeting.id}@{UID_DOMAIN}"


def meeting_url(meeting: Meeting, base_url: str) -> str:
    return base_url.rstrip("/") + meeting_link(meeting)


def summary(meeting: Meeting) -> str:
    text = f"{meeting.kind.label}:{meeting.title}"
    return f"[已取消] {text}" if meeting.status is MeetingStatus.CANCELLED else text


def location(meeting: Meeting) -> str:
    return " ".join(part for part in (meeting.city.strip(), meeting.venue.strip()) if part)


def _utc(value: datetime | None) -> datetime:
    value = value or utcnow()
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def meeting_event(meeting: Meeting, base_url: str) -> Event:
    """The meeting as a VEVENT (times in Asia/Shanghai with TZID; the VTIMEZONE is the calendar's)."""
    event = Event()
    event.add("uid", meeting_uid(meeting))
    event.add("sequence", meeting.sequence or 0)
    event.add("dtstamp", _utc(meeting.updated_at))
    event.add("created", _utc(meeting.created_at))
    event.add("last-modified", _utc(meeting.updated_at))
    event.add("dtstart", to_local(meeting.starts_at))
    event.add("dtend", to_local(meeting.ends_at))
    event.add("summary", summary(meeting))
    place = location(meeting)
    if place:
        event.add("location", place)
    description = [meeting.agenda.strip()] if meeting.agenda and meeting.agenda.strip() else []
    if meeting.status is MeetingStatus.CANCELLED and meeting.cancel_reason:
        description.insert(0, f"会议已取消:{meeting.cancel_reason}")
    url = meeting_url(meeting, base_url)
    description.append(f"详情:{url}")
    event.add("description", "\n\n".join(description))
    event.add("status", STATUS[meeting.status])
    event.add("categories", [meeting.kind.label])
    event.add("url", url)
    event.add("transp", "TRANSPARENT" if meeting.status is MeetingStatus.CANCELLED else "OPAQUE")
    return event


def _calendar(meetings: Iterable[Meeting], base_url: str, *, name: str, method: str | None = None) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", TIMEZONE)
    cal.add("x-published-ttl", "PT1H")  # a hint to subscribing calendars: look again every hour
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    for meeting in meetings:
        cal.add_component(meeting_event(meeting, base_url))
    cal.add_missing_timezones()  # the VTIMEZONE of Asia/Shanghai, placed before the events
    return cal


def meeting_ics(meeting: Meeting, base_url: str) -> bytes:
    """One meeting as a VCALENDAR (the ``.ics`` download)."""
    return _calendar([meeting], base_url, name=f"{meeting.kind.label}:{meeting.title}",
                     method="PUBLISH").to_ical()


def feed_meetings(user: Any, *, now: datetime | None = None) -> list[Meeting]:
    """What the user's feed holds: every meeting they may read that ends after :data:`FEED_HISTORY` ago (90 days),
    cancelled ones too."""
    start = (now or utcnow()) - FEED_HISTORY
    return list(db.session.scalars(meetings_statement(user, start=start)))


def feed_ics(user: Any, base_url: str, *, now: datetime | None = None) -> bytes:
    """The user's private calendar feed as a VCALENDAR."""
    return _calendar(feed_meetings(user, now=now), base_url, name=FEED_NAME, method="PUBLISH").to_ical()

