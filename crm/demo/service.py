"""Demo "一对一" service records: a year of 服务记录, 诉求 in every status and 政策兑现 of every kind.

Called at the end of :func:`crm.demo.seed.seed_demo`, after the demo assignments exist. For every demo enterprise
with active assignments, each of its commissioners has visited, called or met it every four to nine weeks over the
last year; about a fifth of those enterprises have gone quiet for two to four months (their last follow-up date has
passed: an overdue follow-up, and the visit-cadence job's reminder). Requests come out of those interactions, in
every status: fresh ones still within their due date, overdue ones (raised weeks ago and still open), resolved ones
awaiting the 回访, closed ones with the enterprise's satisfaction, and a few reopened. Policy deliveries cover every
kind: delivered on time, delivered late, promised and past due, promised for later, and cancelled with a reason.

Everything goes through the domain functions (:func:`crm.service.interactions.log_interaction`,
:func:`crm.service.requests.raise_request` and :func:`~crm.service.requests.transition`,
:func:`crm.service.policy.create_delivery` and :func:`~crm.service.policy.update_delivery`) with the actor who
would do it in real life: the commissioner who serves the enterprise logs the visit, raises the request and moves
it on as its owner; the city coordinator records the promised support. The domain stamps the moment of a write
with "now"; a demo that tells a year's story moves those stamps (when an interaction was logged, when each step
of a request's timeline happened) back to the simulated day, so the timelines read as they would have happened.
The audit trail is left as it is: it says truthfully when the demo loader wrote each record.

Dates are relative to today (Asia/Shanghai) and the choices come from ``random.Random(SEED)``, so the demo looks
current whenever it is loaded and is the same for the same day. Texts end with "(演示数据)".
Idempotent: when any demo enterprise already has an interaction, nothing is added.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from crm.auth.domain import get_user
from crm.auth.models import Role, Specialty, User
from crm.core.time import SHANGHAI, utcnow
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.holidays.models import DayKind, HolidayYear, SpecialDay
from crm.service import interactions as interaction_domain
from crm.service import policy
from crm.service import requests as request_domain
from crm.service.models import (
    Assignment,
    Channel,
    Interaction,
    PolicyDelivery,
    PolicyKind,
    RequestCategory,
    RequestStatus,
    ServiceRequest,
)

SEED = "service-20241203"
MARK = "(演示数据)"
COORDINATOR = "coordinator"  # the demo's city coordinator records the promised support
QUIET_SHARE = 0.2  # enterprises not contacted for two to four months
DELIVERIES = 40
REQUEST_ROUNDS = 2  # requests of weeks and months ago: each plan of _Seeder._plans this many times

S = RequestStatus
CHANNELS = ((Channel.VISIT, 45), (Channel.CALL, 30), (Channel.ONLINE, 15), (Channel.MEETING, 10))
OPENERS = {
    Channel.VISIT: "走访企业,",
    Channel.CALL: "电话联系企业负责人,",
    Channel.ONLINE: "通过线上会议与企业沟通,",
    Channel.MEETING: "在对接会上与企业座谈,",
}
OUTCOMES = ("企业表示将按要求准备材料", "已形成问题清单,下一步持续跟进", "企业对服务表示满意",
            "约定近期再次跟进", "相关情况已报市工业和科学技术局")
# What each specialty talks about (培育项目申报、融资、市场对接、人才引进、用地用电 …).
TOPICS: dict[Specialty, tuple[str, ...]] = {
    Specialty.TECH: (
        "了解企业{year}年省级“专精特新”中小企业申报准备情况,指导补充研发投入和知识产权佐证材料",
        "协助企业梳理技术改造项目,拟申报市级工业和信息化发展专项资金",
        "宣讲研发费用加计扣除和高新技术企业认定政策,企业计划年内提交认定申请",
        "对接{partner}对供应商的质量体系要求,建议企业推进质量管理体系认证",
        "了解企业新建产线的用电负荷,协调遵义供电局提前制定增容方案",
        "企业二期厂房用地手续推进较慢,陪同企业到市自然资源局对接",
    ),
    Specialty.FINANCE: (
        "了解企业流动资金需求约{amount}万元,推荐对接贵州银行、遵义农商银行的信贷产品",
        "协助企业准备技改项目贷款贴息申报材料,梳理本年度新增贷款明细",
        "介绍应收账款质押融资,企业对{partner}的应收账款可用于融资",
        "辅导企业参加政银企融资对接会,准备项目路演材料",
        "企业反映设备购置资金紧张,协调融资担保公司提供担保",
    ),
    Specialty.LEGAL: (
        "就与{partner}的年度供货框架合同提供法律咨询,提示账期和违约责任条款的风险",
        "协助企业梳理核心产品的知识产权布局,建议申请发明专利和实用新型专利",
        "指导企业规范劳动用工合同和社保缴纳,防范用工纠纷",
        "就厂房不动产权证办理的历史遗留问题,联系市政务服务管理局了解办理路径",
    ),
    Specialty.MEDIA: (
        "通报成渝地区产销对接会安排,邀请企业参展并准备产品推介材料",
        "协助企业对接{partner}采购部门,了解二级供应商准入流程",
        "组织企业参加企业家座谈会,收集拓展成渝市场的意见建议",
        "企业入选融入成渝经济圈工业配套企业名单,协助撰写宣传稿件在政务媒体发布",
        "推荐企业参加供应链洽谈会,与重庆整车企业开展配套洽谈",
    ),
    Specialty.TALENT: (
        "了解企业技能人才缺口约{people}人,对接遵义职业技术学院开展订单式培养",
        "宣讲遵义市人才引进补贴和人才公寓政策,企业拟引进{people}名工程技术人员",
        "协助企业申报高层次人才引进项目,指导准备申报材料",
        "组织企业参加高校毕业生专场招聘会,发布岗位{people}个",
    ),
}
CATEGORIES: dict[Specialty, tuple[RequestCategory, ...]] = {
    Specialty.TECH: (RequestCategory.PROJECT, RequestCategory.POWER, RequestCategory.LAND),
    Specialty.FINANCE: (RequestCategory.FINANCING,),
    Specialty.LEGAL: (RequestCategory.LEGAL,),
    Specialty.MEDIA: (RequestCategory.MARKET,),
    Specialty.TALENT: (RequestCategory.TALENT,),
}
REQUEST_TEXTS: dict[RequestCategory, tuple[str, ...]] = {
    RequestCategory.PROJECT: ("申请协助申报省级“专精特新”中小企业,需指导完善申报材料",
                              "技术改造项目拟申报市级工业发展专项资金,请协助对接主管部门"),
    RequestCategory.POWER: ("新建产线需增容至{kva}kVA,请协调供电部门加快办理",
                            "高峰时段电压不稳影响生产,请协调供电部门排查线路"),
    RequestCategory.LAND: ("二期项目需新增工业用地约{mu}亩,请协助纳入年度供地计划",
                           "厂房不动产权证办理受阻,请协调相关部门"),
    RequestCategory.FINANCING: ("流动资金缺口约{amount}万元,希望对接低息信贷产品",
                                "申请技改项目贷款贴息,请协助确认申报条件"),
    RequestCategory.LEGAL: ("与外地客户的货款纠纷约{amount}万元,需要法律援助",
                            "希望对新产品开展知识产权侵权风险评估"),
    RequestCategory.MARKET: ("希望对接{partner}等成渝整车企业的采购需求",
                             "请协助参加成渝地区产销对接会并安排产品推介"),
    RequestCategory.TALENT: ("急需数控、焊接等技能人才约{people}人,请协助对接职业院校",
                             "引进的工程师申请人才公寓,请协助办理"),
}
REQUEST_DEPARTMENTS = {
    RequestCategory.PROJECT: "市工业和科学技术局", RequestCategory.POWER: "遵义供电局",
    RequestCategory.LAND: "市自然资源局", RequestCategory.FINANCING: "市财政局",
    RequestCategory.LEGAL: "市政务服务管理局", RequestCategory.MARKET: "市投资促进局",
    RequestCategory.TALENT: "市人力资源社会保障局",
}
RESOLUTIONS = ("已协调相关部门办结,企业问题已解决", "已按政策办理完毕,相关材料已送达企业",
               "经协调,主管部门已出具办理意见")
# (what was promised, amount range in 万元 or None, evidence once delivered, responsible unit, specialty in charge)
PROMISES: dict[PolicyKind, tuple[str, tuple[int, int] | None, str, str, Specialty]] = {
    PolicyKind.TAX: ("落实研发费用加计扣除及技术改造税收优惠,预计减免税额", (20, 300),
                     "市税务局已办理减免,税款已退付", "市税务局", Specialty.TECH),
    PolicyKind.LAND: ("保障二期项目新增工业用地{mu}亩,纳入年度供地计划", (100, 800),
                      "已签订国有建设用地使用权出让合同", "市自然资源局", Specialty.TECH),
    PolicyKind.POWER: ("新建{kva}kVA专线并给予年度电费补贴", (5, 60),
                       "专线已送电,电费补贴已拨付至企业账户", "遵义供电局", Specialty.TECH),
    PolicyKind.GAS: ("保障天然气稳定供应并执行工业用气价格优惠", (3, 40),
                     "供气协议已签订,优惠气价已执行", "市能源局", Specialty.TECH),
    PolicyKind.WATER: ("完成工业用水管网接入,执行工业用水价格优惠", (2, 20),
                       "管网已接通并通水", "市水务局", Specialty.TECH),
    PolicyKind.MINERAL: ("协调保障铝土矿、锰矿等原料年供应{tons}万吨", None,
                         "原料保供协议已签订", "市自然资源局", Specialty.TECH),
    PolicyKind.FINANCING: ("协调合作银行发放技改项目贷款并给予贴息", (200, 3000),
                           "贷款已放款,贴息资金已拨付", "市财政局", Specialty.FINANCE),
    PolicyKind.TALENT: ("兑现引进高层次人才安家补贴和技能人才培训补贴", (5, 50),
                        "补贴资金已拨付", "市人力资源社会保障局", Specialty.TALENT),
    PolicyKind.SPECIAL_FUND: ("申报市级融入成渝专项资金,支持配套技改项目", (50, 500),
                              "专项资金已拨付至企业账户", "市财政局", Specialty.FINANCE),
}
DELIVERY_SCENARIOS = ("on_time", "late", "overdue", "future", "on_time", "late", "overdue", "future",
                      "cancelled", "on_time")


# --- calendar --------------------------------------------------------------------------------------------------

class _Days:
    """Working days by the holiday table (one query for all of it), Monday–Friday for a year without data."""

    def __init__(self) -> None:
        self.loaded = set(db.session.scalars(sa.select(HolidayYear.year)))
        self.special = {day: kind for day, kind in db.session.execute(sa.select(SpecialDay.day, SpecialDay.kind))}

    def working(self, day: date) -> bool:
        if day.year in self.loaded and day in self.special:
            return self.special[day] is DayKind.WORKDAY
        return day.weekday() < 5

    def on_or_before(self, day: date, floor: date) -> date:
        """The last working day at or before ``day`` and not before ``floor`` (else ``day`` itself)."""
        probe = day
        while probe >= floor:
            if self.working(probe):
                return probe
            probe -= timedelta(days=1)
        return day

    def after(self, day: date, n: int) -> date:
        while n:
            day += timedelta(days=1)
            if self.working(day):
                n -= 1
        return day


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)


# --- the loader ------------------------------------------------------------------------------------------------

def _demo_count(model: type) -> int:
    demo = sa.select(Enterprise.id).where(Enterprise.is_demo.is_(True))
    return db.session.scalar(sa.select(sa.func.count(model.id)).where(model.enterprise_id.in_(demo))) or 0


def seed_service(report: Any) -> None:
    """Add the demo service records (``report.created`` counts them); nothing when some already exist."""
    existing = _demo_count(Interaction)
    if existing:
        report.existing["interactions"] += existing
        report.existing["requests"] += _demo_count(ServiceRequest)
        report.existing["policy_deliveries"] += _demo_count(PolicyDelivery)
        return
    rows = list(db.session.scalars(
        sa.select(Assignment).join(Assignment.enterprise)
        .where(Assignment.ended_on.is_(None), Enterprise.is_demo.is_(True))
        .options(joinedload(Assignment.commissioner), joinedload(Assignment.enterprise))
        .order_by(Assignment.enterprise_id, Assignment.id)))
    rows = [a for a in rows if a.commissioner.role is Role.COMMISSIONER and a.commissioner.active
            and a.specialty in a.commissioner.specialties]
    if not rows:
        return
    _Seeder(rows, report).run()


@dataclass
class _Visit:
    interaction: Interaction
    assignment: Assignment


class _Seeder:
    def __init__(self, rows: list[Assignment], report: Any) -> None:
        self.report = report
        # The demo's "now" is the latest office-hours moment, so timelines look like office work whatever the
        # hour seed-demo runs at (before 09:30 the working day has barely begun: yesterday evening counts).
        local_now = utcnow().astimezone(SHANGHAI)
        if (local_now.hour, local_now.minute) < (9, 30):
            local_now = datetime.combine(local_now.date() - timedelta(days=1), time(17, 59), SHANGHAI)
        elif local_now.hour >= 18:
            local_now = datetime.combine(local_now.date(), time(17, 59), SHANGHAI)
        self.today = local_now.date()
        self.now = local_now.astimezone(UTC)
        self.rng = random.Random(SEED)
        self.days = _Days()
        self.by_enterprise: dict[int, list[Assignment]] = defaultdict(list)
        for a in sorted(rows, key=lambda a: (a.enterprise_id, list(Specialty).index(a.specialty))):
            self.by_enterprise[a.enterprise_id].append(a)
        coordinator = get_user(COORDINATOR)
        self.coordinator: User | None = (
            coordinator if coordinator is not None and coordinator.role is Role.COORDINATOR and coordinator.active
            else None)

    def run(self) -> None:
        ids = sorted(self.by_enterprise)
        quiet = set(self.rng.sample(ids, k=max(1, round(len(ids) * QUIET_SHARE)))) if len(ids) > 1 else set()
        visits = self._interactions(quiet)
        self._requests(visits, [i for i in ids if i not in quiet] or ids)
        self._deliveries(ids)
        db.session.flush()

    # --- 服务记录 ----------------------------------------------------------------------------------------------

    def _fill(self, text: str, enterprise: Enterprise) -> str:
        partner = enterprise.partner_links[0].partner.name if enterprise.partner_links else "成渝整车企业"
        rng = self.rng
        return text.format(year=self.today.year, partner=partner, amount=rng.choice((300, 500, 800, 1200, 2000)),
                           people=rng.choice((8, 12, 15, 20, 30)), kva=rng.choice((2000, 3150, 5000, 8000)),
                           mu=rng.choice((20, 30, 50, 80)), tons=rng.choice((5, 10, 20)))

    def _participants(self, a: Assignment) -> str:
        contacts = a.enterprise.contacts
        people = [f"{c.post}{c.name}" for c in contacts[:2]]
        return "、".join([*people, f"服务专员{a.commissioner.display_name}"])

    def _log(self, a: Assignment, day: date, channel: Channel, summary: str, follow_up: date | None) -> Interaction:
        interaction = interaction_domain.log_interaction(a.commissioner, a.enterprise, {
            "date": day, "channel": channel.value, "specialty": a.specialty.value,
            "participants": self._participants(a), "summary": summary, "next_follow_up": follow_up,
        }, today=self.today)
        logged = _at(day, 17, self.rng.randint(0, 59) if day < self.today else 0)
        interaction.created_at = min(logged, self.now)
        self.report.created["interactions"] += 1
        return interaction

    def _dates(self, a: Assignment, end: date) -> list[date]:
        start = max(a.started_on, self.today - timedelta(days=365))
        found: list[date] = []
        day = start + timedelta(days=self.rng.randint(2, 25))
        while day <= end:
            found.append(self.days.on_or_before(day, start))
            day += timedelta(days=self.rng.randint(28, 63))
        if not found and start <= self.today:
            found.append(start)
        return sorted(set(found))

    def _interactions(self, quiet: set[int]) -> list[_Visit]:
        rng, today = self.rng, self.today
        visits: list[_Visit] = []
        for enterprise_id, rows in self.by_enterprise.items():
            end = today - timedelta(days=rng.randint(75, 120)) if enterprise_id in quiet else today
            for a in rows:
                dates = self._dates(a, end)
                for n, day in enumerate(dates):
                    channel = rng.choices([c for c, _ in CHANNELS], weights=[w for _, w in CHANNELS])[0]
                    topic = self._fill(rng.choice(TOPICS[a.specialty]), a.enterprise)
                    summary = f"{OPENERS[channel]}{topic}。{rng.choice(OUTCOMES)}。{MARK}"
                    if n < len(dates) - 1:
                        follow_up = day + timedelta(days=rng.randint(14, 30)) if rng.random() < 0.4 else None
                    elif enterprise_id in quiet:  # the follow-up agreed at the last contact has passed
                        follow_up = day + timedelta(days=rng.randint(10, 25))
                    else:
                        follow_up = today + timedelta(days=rng.randint(5, 45)) if rng.random() < 0.7 else None
                    visits.append(_Visit(self._log(a, day, channel, summary, follow_up), a))
        return visits

    # --- 诉求 ------------------------------------------------------------------------------------------------

    def _moments(self, first: date, last: date, n: int) -> list[datetime]:
        """``n`` increasing moments in office hours: the first on ``first``, the others on working days up to
        ``last``; none later than now."""
        rng = self.rng
        moments = [_at(first, 9, rng.randint(0, 59))]
        for offset in sorted(rng.randint(0, max((last - first).days, 0)) for _ in range(n - 1)):
            day = self.days.on_or_before(first + timedelta(days=offset), first)
            moment = max(_at(day, rng.randint(9, 16), rng.randint(0, 59)),
                         moments[-1] + timedelta(minutes=rng.randint(20, 90)))
            if moment.astimezone(SHANGHAI).hour >= 18:  # past office hours: the next working morning
                moment = _at(self.days.after(moment.astimezone(SHANGHAI).date(), 1), 9, rng.randint(0, 30))
            moments.append(moment)
        cap = self.now - timedelta(minutes=1)
        return [min(m, cap - timedelta(minutes=n - 1 - i)) for i, m in enumerate(moments)]

    def _plans(self, dept: str) -> dict[str, list[list[tuple[Any, ...]]]]:
        """The steps after "raised" — (to, note, satisfaction) — of the requests, by how old they are."""
        rng = self.rng
        a = (S.ACCEPTED, f"已受理,转{dept}协同办理", None)
        w = (S.IN_PROGRESS, f"已与{dept}对接,正在办理", None)

        def resolve() -> tuple[Any, ...]:
            return (S.RESOLVED, rng.choice(RESOLUTIONS), None)

        def close(score: int) -> tuple[Any, ...]:
            note = "回访企业,企业对办理结果表示满意" if score >= 4 else "回访企业,企业认为基本解决,仍有改进空间"
            return (S.CLOSED, note, score)

        def reopen(note: str, score: int | None = None) -> tuple[Any, ...]:
            return (S.IN_PROGRESS, note, score)

        return {
            # raised in the last days: still within the due date
            "fresh": [[], [a], [a, w], [], [a]],
            # raised weeks ago: the open ones are overdue
            "mid": [[a], [a, w], [], [a, w], [a, w, resolve()], [a, w, resolve(), close(5)], [a, w]],
            # raised months ago: mostly closed with the enterprise's satisfaction; some reopened
            "old": [[a, w, resolve(), close(5)], [a, w, resolve(), close(4)], [a, w, resolve()],
                    [a, w, resolve(), close(3), reopen("企业反映问题反复出现,重新办理")],
                    [a, w, resolve(), close(5)],
                    [a, w, resolve(), reopen("回访企业不满意:问题未彻底解决,重新办理", 2), resolve(), close(4)],
                    [a, w, resolve(), close(4)], [a, w, resolve(), close(3)], [a, w, resolve(), close(5)],
                    [a, w, resolve(), reopen("回访企业不满意,重新协调办理", 2)]],
        }

    def _raise(self, a: Assignment, raised_on: date, bucket: str, n: int, source: Interaction) -> ServiceRequest:
        rng, today = self.rng, self.today
        category = rng.choice(CATEGORIES[a.specialty])
        department = REQUEST_DEPARTMENTS[category]
        steps = self._plans(department)[bucket][n]
        description = self._fill(rng.choice(REQUEST_TEXTS[category]), a.enterprise) + MARK
        req = request_domain.raise_request(a.commissioner, a.enterprise, {
            "category": category.value, "description": description, "raised_on": raised_on,
            "interaction_id": source.id, "department": department}, today=today)
        age = (today - raised_on).days
        stuck = bool(steps) and steps[-1][0] in request_domain.OPEN_STATUSES and len(steps) <= 2
        # stuck early (taken on, then nothing), or worked through over weeks (longer when reopened)
        span = rng.randint(1, 6) if stuck else rng.randint(10, 40) * (2 if len(steps) > 4 else 1)
        moments = self._moments(raised_on, min(raised_on + timedelta(days=min(span, age)), today),
                                len(steps) + 1)
        req.created_at = req.events[0].at = moments[0]
        for (to, note, score), moment in zip(steps, moments[1:], strict=True):
            request_domain.transition(a.commissioner, req, to, note=note, satisfaction=score)
            req.events[-1].at = moment
            if to is S.RESOLVED:
                req.resolved_at = moment
            elif to is S.CLOSED:
                req.closed_at = moment
        self.report.created["requests"] += 1
        return req

    def _requests(self, visits: list[_Visit], active_ids: list[int]) -> None:
        rng, today = self.rng, self.today
        sizes = {bucket: len(plans) for bucket, plans in self._plans("").items()}

        def pick(low: int, high: int, k: int) -> list[_Visit]:
            """``k`` interactions from ``low`` to ``high`` days ago, one per enterprise while there are enough."""
            found = [v for v in visits if low <= (today - v.interaction.occurred_on).days <= high]
            chosen: list[_Visit] = []
            seen: set[int] = set()
            for v in rng.sample(found, len(found)):
                if v.assignment.enterprise_id not in seen and len(chosen) < k:
                    chosen.append(v)
                    seen.add(v.assignment.enterprise_id)
            return sorted(chosen, key=lambda v: v.interaction.id)

        # Requests raised at a visit weeks or months ago: the open ones are overdue by now.
        for bucket, (low, high) in (("mid", (25, 60)), ("old", (61, 330))):
            for n, visit in enumerate(pick(low, high, sizes[bucket] * REQUEST_ROUNDS)):
                self._raise(visit.assignment, visit.interaction.occurred_on, bucket, n % sizes[bucket],
                            visit.interaction)
        # Fresh ones: the enterprise phoned in during the last days; still within their due date.
        chosen = sorted(rng.sample(active_ids, min(sizes["fresh"], len(active_ids))))
        for n, enterprise_id in enumerate(chosen):
            a = rng.choice(self.by_enterprise[enterprise_id])
            day = self.days.on_or_before(today - timedelta(days=rng.randint(1, 6)), today - timedelta(days=10))
            summary = f"企业来电反映生产经营中遇到的困难,已登记为诉求并告知办理时限。{MARK}"
            call = self._log(a, day, Channel.CALL, summary, today + timedelta(days=7))
            self._raise(a, day, "fresh", n, call)

    # --- 政策兑现 ----------------------------------------------------------------------------------------------

    def _deliveries(self, ids: list[int]) -> None:
        rng, today = self.rng, self.today
        order = rng.sample(ids, len(ids))
        kinds = list(PolicyKind)
        for n in range(DELIVERIES):
            enterprise_id = order[n % len(order)]
            rows = self.by_enterprise[enterprise_id]
            enterprise = rows[0].enterprise
            kind = kinds[n % len(kinds)]
            scenario = DELIVERY_SCENARIOS[(n + 3 * (n // len(kinds))) % len(DELIVERY_SCENARIOS)]  # each kind: a mix
            text, amounts, evidence, department, specialty = PROMISES[kind]
            # the commissioner of that specialty, else the enterprise's first one
            owner = next((a.commissioner for a in rows if a.specialty is specialty), rows[0].commissioner)
            if scenario == "future":
                promised_on = today + timedelta(days=rng.randint(10, 120))
            elif scenario == "overdue":
                promised_on = today - timedelta(days=rng.randint(5, 90))
            else:
                promised_on = today - timedelta(days=rng.randint(45, 300))
            amount = (Decimal(rng.randint(amounts[0] * 10, amounts[1] * 10)) / 10) if amounts else None
            actor = self.coordinator or owner
            delivery = policy.create_delivery(actor, enterprise, {
                "kind": kind.value, "promised": self._fill(text, enterprise) + MARK,
                "amount": str(amount) if amount is not None else None,
                "promised_date": promised_on.isoformat(), "owner": owner.username if owner else None,
                "department": department})
            self.report.created["policy_deliveries"] += 1
            doer = owner or self.coordinator
            if scenario in ("on_time", "late"):
                if scenario == "on_time":
                    delivered = promised_on - timedelta(days=rng.randint(0, 20))
                else:
                    delivered = min(promised_on + timedelta(days=rng.randint(5, 40)), today)
                # one delivered record without its evidence: the page recommends adding it
                note = "" if n == 0 else f"{evidence}(遵市政兑〔{delivered.year}〕{rng.randint(10, 99)}号){MARK}"
                policy.update_delivery(doer, delivery, {"delivered_date": delivered.isoformat(), "evidence": note})
            elif scenario == "cancelled":
                policy.update_delivery(doer, delivery, {
                    "status": "cancelled", "evidence": f"取消原因:企业调整投资计划,项目暂缓实施{MARK}"})
