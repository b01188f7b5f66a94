"""Scheduled jobs of the "一对一" service (declared in crm/scheduler/registry.py).

Each is ``func(fire_time: datetime) -> str``: it runs inside the scheduler's exactly-once claim and transaction,
works through ``db.session``, never commits, and returns a short Chinese summary. "Today" is the fire time's date
in Asia/Shanghai, so a run caught up later still judges the day it was meant for.

Besides the claim, each job is idempotent per day by itself (a second call for the same day tells nobody
again): the request and delivery jobs mark the rows they reported (``owner_notified_on``, ``escalated_on``,
``overdue_notified_on``); the visit reminder skips commissioners who already got one that day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from crm.auth.models import Role, User
from crm.core.time import SHANGHAI
from crm.enterprises.models import Enterprise, EnterpriseStatus
from crm.extensions import db
from crm.holidays.domain import is_working_day, missing_data_message, year_has_data
from crm.notifications.domain import notify, users_with_role
from crm.notifications.models import Notification
from crm.service.models import (
    Assignment,
    DeliveryStatus,
    Interaction,
    PolicyDelivery,
    RequestStatus,
    ServiceRequest,
)

GRACE_KEY, GRACE_DEFAULT = "REQUEST_ESCALATION_GRACE_WORKDAYS", 3
CADENCE_KEY, CADENCE_DEFAULT = "VISIT_CADENCE_DAYS", 60
KIND_REQUEST_OVERDUE = "request_overdue"
KIND_REQUEST_ESCALATED = "request_escalated"
KIND_POLICY_OVERDUE = "policy_overdue"
KIND_VISIT_CADENCE = "visit_cadence"
OPEN_REQUEST = (RequestStatus.RAISED, RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS)
MAX_LISTED = 30  # enterprises named in one reminder; the rest are counted


def _today(fire_time: datetime) -> date:
    return fire_time.astimezone(SHANGHAI).date()


def _config_int(key: str, default: int) -> int:
    value = current_app.config.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"配置项 {key} 必须是整数,当前为 {value!r}") from None
    if number < 0:
        raise ValueError(f"配置项 {key} 不能为负数,当前为 {number}")
    return number


def _enterprise_link(enterprise_id: int) -> str:
    return f"/enterprises/{enterprise_id}"


class _Recipients:
    """Who to tell, looked up once per job run (never a query per row)."""

    def __init__(self) -> None:
        self._coordinators: dict[int | None, list[User]] = {}
        self._commissioners: dict[int, list[User]] = {}

    def coordinators(self, county_id: int | None) -> list[User]:
        """Active coordinators of that county plus the city-wide ones (as ``notify_role`` picks them)."""
        if county_id not in self._coordinators:
            self._coordinators[county_id] = users_with_role(Role.COORDINATOR, county_id=county_id)
        return self._coordinators[county_id]

    def load_commissioners(self, enterprise_ids: Iterable[int]) -> None:
        """The active commissioners actively assigned to each of these enterprises (one query)."""
        wanted = sorted(set(enterprise_ids) - set(self._commissioners))
        for enterprise_id in wanted:
            self._commissioners[enterprise_id] = []
        if not wanted:
            return
        rows = db.session.execute(
            sa.select(Assignment.enterprise_id, User)
            .join(User, User.id == Assignment.commissioner_id)
            .where(Assignment.enterprise_id.in_(wanted), Assignment.ended_on.is_(None), User.active.is_(True))
            .order_by(Assignment.enterprise_id, User.id)
        )
        for enterprise_id, user in rows:
            if user not in self._commissioners[enterprise_id]:
                self._commissioners[enterprise_id].append(user)

    def commissioners(self, enterprise_id: int) -> list[User]:
        return self._commissioners.get(enterprise_id, [])


def _active(user: User | None) -> list[User]:
    return [user] if user is not None and user.active else []


def _missing_holidays_note(*days: date) -> str:
    return missing_data_message({day.year for day in days if not year_has_data(day.year)})


# --- 诉求逾期升级 ---------------------------------------------------------------------------------------------

def escalation_cutoff(today: date, grace: int) -> date:
    """The latest due date whose request, still open today, is ``grace`` working days overdue or more.

    "N working days after the due date" counts the working days in ``(due_date, today]`` (as
    ``crm.holidays.domain.add_working_days`` does): escalate when ``add_working_days(due_date, grace) <= today``.
    Walking back from today touches only a handful of days, whatever the number of requests.
    """
    day, counted = today, 0
    while counted < grace:
        if is_working_day(day):
            counted += 1
        day -= timedelta(days=1)
    return day


def escalate_overdue_requests(fire_time: datetime) -> str:
    """Overdue requests (not resolved or closed, due date before today): tell the owner once; once the request
    is ``REQUEST_ESCALATION_GRACE_WORKDAYS`` working days overdue, tell the coordinators of its enterprise's
    county (and the city-wide ones) once."""
    today = _today(fire_time)
    grace = _config_int(GRACE_KEY, GRACE_DEFAULT)
    cutoff = min(escalation_cutoff(today, grace), today - timedelta(days=1))
    requests = list(db.session.scalars(
        sa.select(ServiceRequest)
        .options(joinedload(ServiceRequest.enterprise), joinedload(ServiceRequest.owner))
        .where(ServiceRequest.status.in_(OPEN_REQUEST), ServiceRequest.due_date < today,
               sa.or_(ServiceRequest.owner_notified_on.is_(None),
                      sa.and_(ServiceRequest.escalated_on.is_(None), ServiceRequest.due_date <= cutoff)))
        .order_by(ServiceRequest.due_date, ServiceRequest.id)
    ))
    recipients = _Recipients()
    recipients.load_commissioners(r.enterprise_id for r in requests if r.owner_id is None)
    note = _missing_holidays_note(cutoff, today)
    told_owner = escalated = 0
    for req in requests:
        enterprise = req.enterprise
        overdue_days = (today - req.due_date).days
        what = f"{enterprise.name}的诉求({req.category.value})"
        text = f"诉求内容:{_clip(req.description)}\n办理期限 {req.due_date.isoformat()},已逾期 {overdue_days} 天。"
        if req.owner_notified_on is None:
            # No owner yet: the enterprise's commissioners are the ones to chase it.
            people = _active(req.owner) or recipients.commissioners(req.enterprise_id)
            if people:
                notify(people, KIND_REQUEST_OVERDUE, f"诉求已逾期:{what}",
                       text + "请尽快办理,或与企业沟通后更新办理进度。", _enterprise_link(req.enterprise_id))
            req.owner_notified_on = today
            told_owner += 1
        if req.escalated_on is None and req.due_date <= cutoff:
            owner = req.owner.display_name if req.owner else "(未指定负责人)"
            body = (text + f"负责人:{owner}。已超过 {grace} 个工作日宽限期仍未办结,请协调督办。"
                    + (f"\n{note}" if note else ""))
            notify(recipients.coordinators(enterprise.county_id), KIND_REQUEST_ESCALATED,
                   f"诉求逾期升级:{what}", body, _enterprise_link(req.enterprise_id))
            req.escalated_on = today
            escalated += 1
    summary = f"{today.isoformat()}:逾期诉求提醒负责人 {told_owner} 件,升级至区县协调员 {escalated} 件"
    return summary + (f"({note})" if note else "")


# --- 政策兑现逾期 ---------------------------------------------------------------------------------------------

def policy_delivery_overdue(fire_time: datetime) -> str:
    """Promised deliveries past their promised date: tell the owner (the enterprise's commissioners when there
    is none) and the county's coordinators, once per delivery (``overdue_notified_on``)."""
    today = _today(fire_time)
    deliveries = list(db.session.scalars(
        sa.select(PolicyDelivery)
        .options(joinedload(PolicyDelivery.enterprise), joinedload(PolicyDelivery.owner))
        .where(PolicyDelivery.status == DeliveryStatus.PROMISED, PolicyDelivery.promised_date < today,
               PolicyDelivery.overdue_notified_on.is_(None))
        .order_by(PolicyDelivery.promised_date, PolicyDelivery.id)
    ))
    recipients = _Recipients()
    recipients.load_commissioners(d.enterprise_id for d in deliveries if d.owner_id is None)
    sent = 0
    for delivery in deliveries:
        enterprise = delivery.enterprise
        people = _active(delivery.owner) or recipients.commissioners(delivery.enterprise_id)
        people = people + recipients.coordinators(enterprise.county_id)
        days = (today - delivery.promised_date).days
        amount = f",金额 {delivery.amount:f} 万元" if delivery.amount is not None else ""
        owner = delivery.owner.display_name if delivery.owner else "(未指定负责人)"
        body = (f"承诺内容:{_clip(delivery.promised)}{amount}\n承诺兑现日期 {delivery.promised_date.isoformat()},"
                f"已逾期 {days} 天,尚未兑现。负责人:{owner}。请尽快推动兑现,或如实更新兑现状态。")
        sent += len(notify(people, KIND_POLICY_OVERDUE,
                           f"政策兑现逾期:{enterprise.name}({delivery.kind.value})", body,
                           _enterprise_link(delivery.enterprise_id)))
        delivery.overdue_notified_on = today
    return f"{today.isoformat()}:逾期未兑现的政策 {len(deliveries)} 项,发出提醒 {sent} 条"


# --- 走访频次提醒 ---------------------------------------------------------------------------------------------

def visit_cadence(fire_time: datetime) -> str:
    """Each active commissioner gets one reminder listing their assigned enterprises with no interaction in the
    last ``VISIT_CADENCE_DAYS`` days (default 60). Two queries whatever the number of enterprises.

    A commissioner already reminded on the fire day (a notification of this kind created since that day began)
    is skipped, so a rerun the same day tells nobody twice.
    """
    today = _today(fire_time)
    days = _config_int(CADENCE_KEY, CADENCE_DEFAULT)
    since = today - timedelta(days=days)  # a contact on a later day counts as recent
    last_contact = (
        sa.select(Interaction.enterprise_id, sa.func.max(Interaction.occurred_on).label("last_on"))
        .where(Interaction.occurred_on <= today)
        .group_by(Interaction.enterprise_id)
        .subquery()
    )
    day_start = datetime.combine(today, time(0), tzinfo=SHANGHAI).astimezone(UTC)
    reminded = (sa.select(Notification.user_id)
                .where(Notification.kind == KIND_VISIT_CADENCE, Notification.created_at >= day_start))
    rows = db.session.execute(
        sa.select(User, Enterprise.id, Enterprise.name, last_contact.c.last_on)
        .select_from(Assignment)
        .join(User, User.id == Assignment.commissioner_id)
        .join(Enterprise, Enterprise.id == Assignment.enterprise_id)
        .outerjoin(last_contact, last_contact.c.enterprise_id == Enterprise.id)
        .where(Assignment.ended_on.is_(None), User.active.is_(True), User.role == Role.COMMISSIONER,
               Enterprise.status == EnterpriseStatus.ACTIVE,
               sa.or_(last_contact.c.last_on.is_(None), last_contact.c.last_on <= since),
               User.id.not_in(reminded))
        .order_by(User.id, Enterprise.name_pinyin, Enterprise.id)
    )
    stale: dict[int, dict[int, tuple[str, date | None]]] = defaultdict(dict)
    users: dict[int, User] = {}
    for user, enterprise_id, name, last_on in rows:
        users[user.id] = user
        stale[user.id][enterprise_id] = (name, last_on)  # two specialties, one enterprise: listed once
    enterprises: set[int] = set()
    for user_id, listed in stale.items():
        lines = []
        for name, last_on in list(listed.values())[:MAX_LISTED]:
            lines.append(f"· {name}:" + (f"最近联系 {last_on.isoformat()},已 {(today - last_on).days} 天"
                                         if last_on else "尚无服务记录"))
        if len(listed) > MAX_LISTED:
            lines.append(f"……另有 {len(listed) - MAX_LISTED} 家")
        link = _enterprise_link(next(iter(listed))) if len(listed) == 1 else "/enterprises/"
        notify([users[user_id]], KIND_VISIT_CADENCE,
               f"走访提醒:{len(listed)} 家企业超过 {days} 天未联系",
               f"以下您负责的企业超过 {days} 天没有服务记录,请安排走访或电话联系:\n" + "\n".join(lines), link)
        enterprises.update(listed)
    return f"{today.isoformat()}:提醒服务专员 {len(stale)} 人,涉及超过 {days} 天未联系的企业 {len(enterprises)} 家"


def _clip(text: str, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
