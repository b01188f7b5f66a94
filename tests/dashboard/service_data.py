"""A small known data set for the service-performance tests (period: November 2026), the expected numbers worked
out by hand in the tests that use it.

- 汇川区: e1 (listed, all five specialties), e2 (listed, four: its 人才 assignment ended on 11-15);
  红花岗区: e3 (listed, one specialty), e4 (not listed).
- A (commissioner, 科技): e1, e2; B (融资): e3; C: the other specialties of e1 and e2.
- 诉求 r1–r8, 政策兑现 d1–d4, 服务记录 i1–i6, meetings m1 (成都, held), m2 (遵义, no partner, held),
  m3 (重庆, planned): see :func:`build`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from crm.core.time import SHANGHAI
from crm.extensions import db
from crm.reference.models import Department
from crm.rosters.models import RosterKind
from crm.service.models import (
    Assignment,
    DeliveryStatus,
    Interaction,
    PolicyDelivery,
    RequestStatus,
    ServiceRequest,
)
from tests.conftest import assign, make_enterprise, make_user
from tests.meetings.factories import make_meeting
from tests.rosters.factories import published_edition

START, END = date(2026, 11, 1), date(2026, 11, 30)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@dataclass
class Data:
    a: Any
    b: Any
    c: Any
    e1: Any
    e2: Any
    e3: Any
    e4: Any
    d1: Any
    d2: Any


def request(enterprise, owner, raised: str, due: str, *, department=None, status="in_progress",
            closed: str | None = None, resolved: str | None = None, satisfaction: int | None = None):
    row = ServiceRequest(enterprise_id=enterprise.id, category="其他", description=f"诉求 {raised}",
                         owner_id=owner.id, department_id=department.id if department else None,
                         raised_on=date.fromisoformat(raised), due_date=date.fromisoformat(due),
                         status=RequestStatus(status), satisfaction=satisfaction,
                         closed_at=at(closed) if closed else None,
                         resolved_at=at(resolved or closed) if (resolved or closed) else None)
    db.session.add(row)
    return row


def interaction(enterprise, author, day: str, channel: str = "visit"):
    row = Interaction(enterprise_id=enterprise.id, occurred_on=date.fromisoformat(day), channel=channel,
                      specialty="tech", summary=f"服务 {day}", created_by_id=author.id)
    db.session.add(row)
    return row


def delivery(enterprise, owner, promised: str, delivered: str | None, *, department=None):
    row = PolicyDelivery(enterprise_id=enterprise.id, kind="税收", promised="减免", owner_id=owner.id,
                         department_id=department.id if department else None,
                         promised_date=date.fromisoformat(promised),
                         delivered_date=date.fromisoformat(delivered) if delivered else None,
                         status=DeliveryStatus.DELIVERED if delivered else DeliveryStatus.PROMISED)
    db.session.add(row)
    return row


def build() -> Data:
    departments = list(db.session.scalars(sa.select(Department).order_by(Department.sort_order, Department.id)))
    d1, d2 = departments[0], departments[1]
    a = make_user("commissioner", username="perf_a", specialties=["tech"])
    b = make_user("commissioner", username="perf_b", specialties=["finance"])
    c = make_user("commissioner", username="perf_c", specialties=["finance", "legal", "media", "talent"])
    a.display_name, b.display_name, c.display_name = "专员甲", "专员乙", "专员丙"
    e1 = make_enterprise("绩效测试一号", county="汇川区")
    e2 = make_enterprise("绩效测试二号", county="汇川区")
    e3 = make_enterprise("绩效测试三号", county="红花岗区")
    e4 = make_enterprise("绩效测试四号", county="红花岗区")
    published_edition(RosterKind.SUPPLIER_LIST, "2026H2", [e1, e2, e3])

    assign(e1, a, "tech")
    assign(e2, a, "tech")
    assign(e3, b, "finance")
    for specialty in ("finance", "legal", "media", "talent"):
        assign(e1, c, specialty)
    for specialty in ("finance", "legal", "media"):
        assign(e2, c, specialty)
    ended = assign(e2, c, "talent")
    ended.ended_on = date(2026, 11, 15)
    # an assignment that starts after the period does not count for it
    db.session.add(Assignment(enterprise_id=e3.id, commissioner_id=c.id, specialty="legal",
                              started_on=date(2026, 12, 2)))

    request(e1, a, "2026-11-02", "2026-11-10", department=d1, status="closed", closed="2026-11-09 10:00",
            satisfaction=5)                                                            # r1: 7 days, on time
    request(e1, a, "2026-11-03", "2026-11-05", department=d1, status="closed", closed="2026-11-08 10:00",
            satisfaction=3)                                                            # r2: 5 days, late
    request(e2, a, "2026-10-20", "2026-10-30", department=d2, status="closed", closed="2026-11-01 00:30",
            satisfaction=4)                                                            # r3: 12 days, late
    request(e3, b, "2026-11-05", "2026-11-20", status="closed", closed="2026-11-19 23:30")  # r4: 14 days, on time
    request(e3, b, "2026-11-10", "2026-11-25")                                         # r5: overdue at the end
    request(e1, a, "2026-11-20", "2026-11-30")                                         # r6: due on the last day
    request(e2, a, "2026-11-01", "2026-11-15", status="resolved", resolved="2026-12-02 09:00")  # r7: overdue then
    request(e4, b, "2026-11-25", "2026-11-28", status="closed", closed="2026-12-01 00:10")      # r8: overdue then
    request(e1, a, "2026-09-01", "2026-09-10", status="closed", closed="2026-09-09 10:00")      # r9: long ago

    delivery(e1, a, "2026-11-10", "2026-11-08", department=d1)                         # on time
    delivery(e3, b, "2026-11-10", "2026-11-12")                                        # late
    delivery(e2, a, "2026-10-01", "2026-10-05")                                        # before the period
    delivery(e1, a, "2026-11-30", None)                                                # not delivered

    interaction(e1, a, "2026-11-03")
    interaction(e1, a, "2026-11-04", "call")
    interaction(e2, a, "2026-10-15")
    interaction(e3, b, "2026-11-20")
    interaction(e3, b, "2026-11-21", "online")
    interaction(e1, b, "2026-11-22")

    from tests.meetings.factories import partner  # noqa: F401  (the seeded catalogue)
    make_meeting(title="成都对接会", starts="2026-11-12 09:00", city="成都", status="held", enterprises=[e1])
    make_meeting(title="遵义座谈会", kind="entrepreneur_forum", starts="2026-11-14 09:00", city="遵义",
                 status="held", enterprises=[e3])
    make_meeting(title="重庆洽谈会", kind="supply_chain", starts="2026-11-25 09:00", city="重庆")
    db.session.flush()
    return Data(a=a, b=b, c=c, e1=e1, e2=e2, e3=e3, e4=e4, d1=d1, d2=d2)


def grow(data: Data, n: int) -> None:
    """``n`` more enterprises, each with a commissioner, a request, a visit and a delivery (for the statement
    count)."""
    for i in range(n):
        enterprise = make_enterprise(f"扩充企业{i}", county="播州区" if i % 2 else "汇川区")
        person = make_user("commissioner", username=f"perf_extra{i}", specialties=["tech"])
        assign(enterprise, person, "tech")
        request(enterprise, person, "2026-11-05", "2026-11-10", status="closed", closed="2026-11-12 10:00",
                satisfaction=4, department=data.d2)
        interaction(enterprise, person, "2026-11-06")
        delivery(enterprise, person, "2026-11-10", "2026-11-09")
    db.session.flush()
