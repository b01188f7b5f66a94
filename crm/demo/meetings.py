"""Demo meetings: last year's programme with the 成渝 area (held, with participants, agreements and follow-up 诉求,
one cancelled), the meetings held so far this year, and the coming months' plan, so a leader signing in to the
demo finds a full calendar.

Called at the end of :func:`crm.demo.seed.seed_demo`, after the demo enterprises, their commissioners and the
service records exist. Everything goes through :mod:`crm.meetings.domain` (``create_meeting``,
``set_participants``, ``add_agreement``, ``raise_follow_up``, ``cancel_meeting``), so everything is audited: the
meetings, their participants and agreements as the system (the loader, like the rest of seed-demo); a follow-up
诉求 as the commissioner who serves the enterprise (as crm/demo/service.py writes the service records): they log
the conversation at the meeting (a 服务记录, channel 会议), raise the 诉求 from the meeting and work it through to
closed (the latest one still in progress), its timeline moved back to the days it would have happened; a
meeting before the service story's year (crm/demo/service.py) has its agreements but no follow-ups. Meetings
land on working days by the holiday table (``next_working_day``); the one exception, a Saturday 推介活动, says so
with ``allow_non_working_day``.

Dates are relative to today (Asia/Shanghai): "last year" is the calendar year before today's, the plan runs
over the next four months. Agendas end with "(演示数据)". Idempotent: when a demo meeting exists (an agenda with
that mark), nothing is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from crm.auth.domain import get_user
from crm.auth.models import Role, Specialty, User
from crm.core.time import SHANGHAI, local_today, utcnow
from crm.demo.data import AECC_CD, CAC, CAC_CIVIL, CD_BUS, CHANGAN, CPIC, GREATWALL, HUAFON_AL, SERES, SWA, WANKAI
from crm.demo.service import REQUEST_DEPARTMENTS
from crm.enterprises.models import Enterprise, EnterprisePartner
from crm.extensions import db
from crm.holidays.workdays import next_working_day
from crm.meetings import domain
from crm.meetings.models import Meeting, MeetingStatus
from crm.reference.models import Partner
from crm.service import interactions as interaction_domain
from crm.service import requests as request_domain
from crm.service.models import Assignment, Channel, RequestCategory, RequestStatus

MARK = "(演示数据)"
OFFICE = "市工业和科学技术局"
# The demo's service records tell the last year (crm/demo/service.py): a follow-up 诉求 comes out of a 服务记录 at
# the meeting, so only meetings within that year get theirs.
SERVICE_STORY_DAYS = 360


@dataclass(frozen=True)
class Deal:
    partner: str
    kind: str  # 采购 / 配套 / 投资 / 合作
    amount: int  # 万元
    note: str = ""


@dataclass(frozen=True)
class Spec:
    kind: str
    title: str  # "{year}" is the meeting's year
    city: str
    venue: str
    partners: tuple[str, ...]
    officials: tuple[str, ...]
    enterprises: int
    agenda: str
    hours: tuple[time, time] = (time(9, 0), time(17, 0))
    department: str = OFFICE
    outcome: str = ""
    deals: tuple[Deal, ...] = ()
    follow_ups: tuple[tuple[RequestCategory, str], ...] = ()  # (category, what the enterprise asked)
    cancel: str = ""  # a cancellation reason: planned, then cancelled
    weekend: bool = False  # deliberately on a non-working day
    confirmed: bool = False


# Last year's programme: one of each required kind (each with the 成渝 area), one other activity on a Saturday,
# one cancelled. (month, day) → moved to the next working day unless ``weekend``.
LAST_YEAR: tuple[tuple[tuple[int, int], Spec], ...] = (
    ((4, 17), Spec(
        "supply_demand", "{year}年遵义—重庆汽车零部件产销对接会", "重庆", "重庆悦来国际会议中心",
        (CHANGAN, SERES, GREATWALL), ("leader", "coordinator", "commissioner_media"), 8,
        "一、市工业和科学技术局介绍遵义汽车零部件产业情况;二、重庆整车企业发布年度采购需求;三、遵义企业产品推介;"
        "四、分组洽谈、集中签约。",
        outcome="遵义 8 家汽车零部件企业参会,与重庆整车企业现场签约 3 项,另有 5 家企业进入供应商审核流程。",
        deals=(Deal(CHANGAN, "采购", 3200, "线束及电气件年度采购框架协议"),
               Deal(SERES, "配套", 1800, "新能源车型结构件二级配套"),
               Deal(GREATWALL, "合作", 600, "联合开发轻量化零部件")),
        follow_ups=((RequestCategory.MARKET, "希望市里协调长安汽车供应商质量审核,尽快完成准入评审"),
                    (RequestCategory.FINANCING, "新增配套订单需扩产,流动资金缺口约800万元,希望对接低息信贷")))),
    ((6, 12), Spec(
        "entrepreneur_forum", "{year}年遵义企业家座谈会(融入成渝专题)", "遵义", "汇川区政务服务中心三楼会议室",
        (CAC, SWA), ("leader", "coordinator", "coordinator_hc"), 6,
        "听取企业家对融入成渝地区双城经济圈的意见建议,成渝企业代表介绍供应商准入要求,相关部门现场答复。",
        hours=(time(14, 30), time(17, 30)),
        outcome="收集意见建议 12 条,现场答复 7 条,其余转相关部门办理。",
        follow_ups=((RequestCategory.POWER, "新建产线需增容至5000kVA,请协调供电部门加快办理"),))),
    ((7, 22), Spec(
        "supply_chain", "{year}年新材料产业供应链洽谈会", "重庆", "重庆国际博览中心",
        (WANKAI, CPIC), ("leader", "coordinator"), 4,
        "新材料企业与重庆下游企业开展供应链洽谈。",
        cancel="与重庆市新材料产业大会日期冲突,并入9月供应链洽谈会")),
    ((9, 18), Spec(
        "supply_chain", "{year}年成渝地区航空及铝材供应链洽谈会", "成都", "成都世纪城新国际会展中心",
        (CAC, CAC_CIVIL, AECC_CD, SWA, HUAFON_AL), ("leader", "coordinator", "commissioner_tech"), 8,
        "一、成飞、航发成发等发布配套需求;二、铝材、钛材企业对接;三、签约仪式。",
        outcome="航空零部件及铝材企业与成渝主机厂签约 3 项,金额合计约 8600 万元。",
        deals=(Deal(CAC, "配套", 4200, "航空结构件机加配套"),
               Deal(SWA, "采购", 3600, "铝合金坯料年度采购"),
               Deal(AECC_CD, "合作", 800, "发动机零部件工艺联合攻关")),
        follow_ups=((RequestCategory.TALENT, "承接航空配套订单急需数控技能人才约20人,请协助对接职业院校"),))),
    ((11, 15), Spec(
        "other", "{year}年遵义制造业成渝招商推介活动", "成都", "成都天府国际会议中心",
        (CD_BUS, SERES), ("leader", "coordinator"), 5,
        "周末面向成渝客商举办遵义特色优势制造业推介,企业展台展示。",
        hours=(time(9, 30), time(16, 0)), weekend=True,
        outcome="接待成渝客商约 200 人次,达成合作意向 6 项。")),
)

# So far this year: (days ago, spec); only those still in this year are made.
THIS_YEAR: tuple[tuple[int, Spec], ...] = (
    (150, Spec(
        "supply_demand", "{year}年遵义—成都客车及新能源汽车产销对接会", "成都", "成都客车股份有限公司会议中心",
        (CD_BUS, SERES), ("leader", "coordinator", "commissioner_media"), 6,
        "客车及新能源汽车零部件产销对接,现场参观生产线。",
        outcome="签约 2 项,4 家企业提交供应商准入资料。",
        deals=(Deal(CD_BUS, "采购", 1500, "客车内饰件年度采购"), Deal(SERES, "配套", 900, "电驱系统支架配套")),
        follow_ups=((RequestCategory.MARKET, "希望协调成都客车开放新一轮供应商准入评审"),
                    (RequestCategory.TALENT, "新增订单需招聘焊接、装配技工约15人,请协助对接职业院校")))),
    (40, Spec(
        "entrepreneur_forum", "{year}年下半年企业家座谈会", "遵义", "市工业和科学技术局五楼会议室",
        (CHANGAN,), ("leader", "coordinator"), 5,
        "通报半年名单更新情况,听取企业拓展成渝市场的困难和建议。", hours=(time(14, 30), time(17, 0)),
        outcome="企业反映的 6 项困难已形成清单,交由服务专员跟进。",
        follow_ups=((RequestCategory.MARKET, "希望参加长安汽车下一批次供应商开放日"),))),
)

# The coming months: (days from today, spec).
PLAN: tuple[tuple[int, Spec], ...] = (
    (6, Spec(
        "other", "融入成渝工作推进会", "遵义", "市工业和科学技术局五楼会议室", (), ("leader", "coordinator",
                                                                    "coordinator_hc"), 0,
        "通报名单企业服务情况,部署成渝对接活动安排。", hours=(time(9, 0), time(11, 30)), confirmed=True)),
    (13, Spec(
        "supply_demand", "遵义—重庆汽车零部件产销对接会(冬季专场)", "重庆", "重庆悦来国际会议中心",
        (CHANGAN, SERES, GREATWALL), ("leader", "coordinator", "commissioner_media"), 6,
        "重庆整车企业发布下一年度采购需求,遵义零部件企业推介、分组洽谈。", confirmed=True)),
    (30, Spec(
        "entrepreneur_forum", "新春企业家座谈会", "遵义", "遵义会议中心", (SWA,), ("leader", "coordinator"), 8,
        "听取企业家对新一年融入成渝工作的意见建议。", hours=(time(14, 30), time(17, 30)), confirmed=True)),
    (55, Spec(
        "supply_chain", "成渝航空产业供应链洽谈会", "成都", "成都世纪城新国际会展中心",
        (CAC, CAC_CIVIL, AECC_CD), ("leader", "coordinator", "commissioner_tech"), 6,
        "航空主机厂发布配套需求,遵义航空零部件企业对接。")),
    (80, Spec(
        "supply_chain", "新材料及复合材料供应链洽谈会", "重庆", "重庆国际博览中心", (CPIC, WANKAI, HUAFON_AL),
        ("coordinator",), 4, "新材料企业与重庆下游企业供应链洽谈。")),
    (105, Spec(
        "supply_demand", "新能源汽车零部件产销对接会", "成都", "成都天府国际会议中心", (SERES, CD_BUS),
        ("leader", "coordinator", "commissioner_media"), 6, "新能源汽车及客车零部件产销对接。")),
)


@dataclass
class _Made:
    meeting: Meeting
    enterprises: list[Enterprise] = field(default_factory=list)


def _at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, SHANGHAI)


def _working(day: date) -> date:
    return next_working_day(day).date


def demo_meeting_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Meeting.id)).where(Meeting.agenda.like(f"%{MARK}"))) or 0


def seed_meetings(report: Any) -> None:
    """Add the demo meetings (``report.created["meetings"]`` counts them); nothing when some already exist."""
    existing = demo_meeting_count()
    if existing:
        report.existing["meetings"] += existing
        return
    _Seeder(report).run()
    db.session.flush()


class _Seeder:
    def __init__(self, report: Any) -> None:
        self.report = report
        self.today = local_today()
        self.actor = None  # the loader, as the rest of seed-demo
        self.partners = {p.name: p for p in db.session.scalars(sa.select(Partner))}
        # Demo enterprises with an active commissioner (the people a meeting tells), and their 成渝 partners.
        served = sa.select(Assignment.enterprise_id).where(Assignment.ended_on.is_(None))
        self.enterprises = list(db.session.scalars(
            sa.select(Enterprise).where(Enterprise.is_demo.is_(True), Enterprise.id.in_(served))
            .order_by(Enterprise.id)))
        self.linked: dict[str, list[Enterprise]] = {}
        by_id = {e.id: e for e in self.enterprises}
        for enterprise_id, name in db.session.execute(
                sa.select(EnterprisePartner.enterprise_id, Partner.name)
                .join(Partner, Partner.id == EnterprisePartner.partner_id)
                .order_by(EnterprisePartner.enterprise_id)):
            if enterprise_id in by_id:
                self.linked.setdefault(name, []).append(by_id[enterprise_id])
        self.rotation = 0

    def run(self) -> None:
        last_year = self.today.year - 1
        for (month, day), spec in LAST_YEAR:
            wanted = date(last_year, month, day)
            self._make(spec, wanted if spec.weekend else _working(wanted), past=True)
        for days_ago, spec in THIS_YEAR:
            day = self._working_before(self.today - timedelta(days=days_ago))
            if day.year == self.today.year and day < self.today:
                self._make(spec, day, past=True)
        for days_ahead, spec in PLAN:
            self._make(spec, _working(self.today + timedelta(days=days_ahead)), past=False)

    def _working_before(self, day: date) -> date:
        probe = day
        while next_working_day(probe).date != probe:
            probe -= timedelta(days=1)
        return probe

    # --- one meeting ---------------------------------------------------------------------------------------

    def _pick(self, spec: Spec) -> list[Enterprise]:
        """Enterprises linked to the meeting's partners first, then others in turn (so meetings differ)."""
        chosen: list[Enterprise] = []
        for name in spec.partners:
            for enterprise in self.linked.get(name, []):
                if enterprise not in chosen and len(chosen) < (spec.enterprises + 1) // 2:
                    chosen.append(enterprise)
        pool = self.enterprises
        tries = 0
        while len(chosen) < spec.enterprises and pool and tries < len(pool):
            enterprise = pool[self.rotation % len(pool)]
            self.rotation += 1
            tries += 1
            if enterprise not in chosen:
                chosen.append(enterprise)
        return chosen

    def _make(self, spec: Spec, day: date, *, past: bool) -> None:
        starts, ends = _at(day, spec.hours[0]), _at(day, spec.hours[1])
        held = past and not spec.cancel
        data = {"kind": spec.kind, "title": spec.title.format(year=day.year), "starts_at": starts, "ends_at": ends,
                "city": spec.city, "venue": spec.venue, "department": spec.department,
                "agenda": f"{spec.agenda}{MARK}", "allow_non_working_day": spec.weekend}
        if held:
            data |= {"status": MeetingStatus.HELD.value, "outcome_summary": spec.outcome}
        elif spec.confirmed:
            data["status"] = MeetingStatus.CONFIRMED.value
        meeting = domain.create_meeting(self.actor, data).meeting
        enterprises = self._pick(spec)
        officials = [u.username for name in spec.officials if (u := get_user(name)) is not None and u.active]
        domain.set_participants(self.actor, meeting, {
            "enterprises": [e.id for e in enterprises],
            "partners": [self.partners[name].id for name in spec.partners if name in self.partners],
            "officials": officials})
        self.report.created["meetings"] += 1
        if spec.cancel:
            domain.cancel_meeting(self.actor, meeting, spec.cancel)
            return
        if held:
            self._outcomes(spec, meeting, enterprises)

    def _outcomes(self, spec: Spec, meeting: Meeting, enterprises: list[Enterprise]) -> None:
        for n, deal in enumerate(spec.deals):
            partner = self.partners.get(deal.partner)
            if partner is None or not enterprises:
                continue
            linked = [e for e in self.linked.get(deal.partner, []) if e in enterprises]
            enterprise = linked[0] if linked else enterprises[n % len(enterprises)]
            linked_before = db.session.scalar(sa.select(EnterprisePartner.id).where(
                EnterprisePartner.enterprise_id == enterprise.id, EnterprisePartner.partner_id == partner.id))
            domain.add_agreement(self.actor, meeting, {
                "enterprise_id": enterprise.id, "partner_id": partner.id, "kind": deal.kind,
                "amount": deal.amount, "note": deal.note})
            if linked_before is None:  # the agreement made a supply link: a demo one
                db.session.execute(sa.update(EnterprisePartner).where(
                    EnterprisePartner.enterprise_id == enterprise.id, EnterprisePartner.partner_id == partner.id)
                    .values(is_demo=True))
            self.report.created["agreements"] += 1
        ended = meeting.ends_at.astimezone(SHANGHAI).date()
        if (self.today - ended).days > SERVICE_STORY_DAYS:
            return  # before the service story begins: no 服务记录 to raise it from
        recent = (self.today - ended).days < 60
        for n, (category, text) in enumerate(spec.follow_ups):
            served = [(e, found) for e in enterprises[n:] + enterprises[:n] if (found := self._commissioner(e))]
            if not served:
                continue
            enterprise, (owner, specialty) = served[0]
            # The commissioner talks with the enterprise at the meeting, logs it and raises the 诉求 from it.
            talk = interaction_domain.log_interaction(owner, enterprise, {
                "date": ended, "channel": Channel.MEETING.value, "specialty": specialty.value,
                "participants": f"服务专员{owner.display_name}",
                "summary": f"在“{meeting.title}”上与企业座谈,企业提出:{text}。{MARK}"}, today=self.today)
            talk.created_at = min(datetime.combine(ended, time(17, 20), SHANGHAI).astimezone(UTC), utcnow())
            req = domain.raise_follow_up(owner, meeting, {
                "enterprise_id": enterprise.id, "category": category.value, "description": f"{text}{MARK}",
                "interaction_id": talk.id, "department": REQUEST_DEPARTMENTS[category], "raised_on": ended})
            self._work(req, owner, ended, still_open=recent)
            self.report.created["follow_ups"] += 1

    def _commissioner(self, enterprise: Enterprise) -> tuple[User, Specialty] | None:
        """The enterprise's first active commissioner with the specialty of their assignment."""
        for assignment in db.session.scalars(
                sa.select(Assignment).join(User, User.id == Assignment.commissioner_id)
                .where(Assignment.enterprise_id == enterprise.id, Assignment.ended_on.is_(None),
                       User.active.is_(True), User.role == Role.COMMISSIONER)
                .order_by(Assignment.id)):
            if assignment.specialty in assignment.commissioner.specialties:
                return assignment.commissioner, assignment.specialty
        return None

    def _work(self, req: Any, owner: User, raised_on: date, *, still_open: bool) -> None:
        """The owner takes the request on and, unless it is recent, sees it through to closed; the timeline is
        moved back to the days it would have happened (never later than now)."""
        S = RequestStatus
        steps = [(S.ACCEPTED, "已受理,会后跟进", None), (S.IN_PROGRESS, "已与相关部门对接,正在办理", None)]
        if not still_open:
            steps += [(S.RESOLVED, "已协调相关部门办结", None), (S.CLOSED, "回访企业,企业对办理结果表示满意", 5)]
        now = utcnow()
        moment = datetime.combine(raised_on, time(17, 30), SHANGHAI).astimezone(UTC)
        req.created_at = req.events[0].at = min(moment, now)
        for n, (to, note, score) in enumerate(steps, start=1):
            request_domain.transition(owner, req, to, note=note, satisfaction=score)
            when = min(moment + timedelta(days=3 * n, hours=-7), now - timedelta(minutes=len(steps) - n + 1))
            req.events[-1].at = when
            if to is S.RESOLVED:
                req.resolved_at = when
            elif to is S.CLOSED:
                req.closed_at = when
