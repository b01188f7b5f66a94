"""The benchmark's data set: its size (:class:`Scale`), what the timings need from it (:class:`Fixture`), and
:func:`generate`, which bulk-loads it with core ``INSERT``s (names with the domain's own ``name_key`` / pinyin /
initials, USCCs with a valid check digit, so search and the Excel import treat them as real records).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from time import perf_counter
from typing import Any

import sqlalchemy as sa
from stdnum.cn import uscc as stdnum_uscc

from benchmarks.vocabulary import (
    BRANDS,
    COUNTY_CODES,
    COUNTY_PREFIX,
    COUNTY_WEIGHTS,
    DESCRIPTIONS,
    FORMS,
    GIVEN,
    INDUSTRIES,
    POSTS,
    REASONS,
    REMOVAL_REASONS,
    SUMMARIES,
    SURNAMES,
)
from crm.extensions import db

PASSWORD = "Bench-2026-zunyi"


@dataclass
class Scale:
    enterprises: int
    edition_size: int
    assigned: int  # listed enterprises with a full set of five commissioners
    interactions: int
    requests: int
    commissioners: int = 30

    @classmethod
    def for_enterprises(cls, n: int) -> Scale:
        edition = min(5000, n // 4)
        return cls(enterprises=n, edition_size=edition, assigned=min(2000, edition), interactions=5 * n,
                   requests=n)


@dataclass
class Fixture:
    """What the timed operations need, found while generating (ids, names, search fragments)."""

    county_ids: dict[str, int] = field(default_factory=dict)
    cluster_ids: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)  # username → id
    commissioner_ids: list[int] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)  # oldest … published, draft
    editions: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, period) → id
    empty_draft: tuple[str, str] = ("", "")
    rich_enterprise: int = 0  # many contacts, figures, links, history
    plain_enterprise: int = 0  # one of each at most
    q_name: str = ""
    q_initials: str = ""
    q_uscc: str = ""
    counts: dict[str, int] = field(default_factory=dict)



# --- generation --------------------------------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I O Z S V


def make_uscc(county: str, n: int) -> str:
    """A valid 统一社会信用代码: 91 (enterprise) + region + a 9-character code + the check character."""
    value = (n * 7_368_787 + 12_345) % 31 ** 7  # a bijection on 0 … 31⁷-1: unique codes for unique n
    body = []
    for _ in range(7):
        value, digit = divmod(value, 31)
        body.append(USCC_ALPHABET[digit])
    code = "91" + COUNTY_CODES[county] + "MA" + "".join(body)
    return code + stdnum_uscc.calc_check_digit(code)


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, dtime(hour), tzinfo=UTC)


def insert(model: Any, rows: list[dict], chunk: int = 5000) -> None:
    table = model.__table__
    for start in range(0, len(rows), chunk):
        db.session.execute(sa.insert(table), rows[start:start + chunk])


def generate(scale: Scale, rng: random.Random, log: Callable[[str], None]) -> Fixture:
    """Fill the database (reference data already loaded). Returns what the timings need."""
    from crm.auth.domain import hash_password
    from crm.auth.models import Role, Specialty, User, UserSpecialty
    from crm.core.audit import AuditLog
    from crm.core.time import local_today
    from crm.enterprises.domain import name_key, pinyin_of
    from crm.enterprises.models import (
        Enterprise,
        EnterpriseContact,
        EnterpriseFigure,
        EnterprisePartner,
        EnterpriseStatus,
    )
    from crm.notifications.models import Notification
    from crm.reference.models import Cluster, County, Department, Park, Partner, SupplyCategory
    from crm.rosters.domain import next_period, period_of
    from crm.rosters.models import EditionStatus, RosterEdition, RosterEntry, RosterKind, RosterRemoval, Tier
    from crm.service.models import (
        Assignment,
        Channel,
        DeliveryStatus,
        Interaction,
        PolicyDelivery,
        PolicyKind,
        RequestCategory,
        RequestEvent,
        RequestStatus,
        ServiceRequest,
    )

    fx = Fixture()
    today = local_today()
    now = datetime.now(UTC)
    fx.county_ids = {c.name: c.id for c in db.session.scalars(sa.select(County))}
    fx.cluster_ids = {c.name: c.id for c in db.session.scalars(sa.select(Cluster))}
    category_ids = [c.id for c in db.session.scalars(sa.select(SupplyCategory))]
    partner_ids = [p.id for p in db.session.scalars(sa.select(Partner))]
    department_ids = [d.id for d in db.session.scalars(sa.select(Department))]
    parks_by_county: dict[int, list[int]] = {}
    for park in db.session.scalars(sa.select(Park)):
        parks_by_county.setdefault(park.county_id, []).append(park.id)

    # users: an admin, a city-wide and a county coordinator, a leader, 30 commissioners (6 per specialty)
    t0 = perf_counter()
    password_hash = hash_password(PASSWORD)
    users: list[dict] = []
    specialties: list[dict] = []

    def user(username: str, display: str, role: Role, county: str | None = None) -> int:
        uid = len(users) + 1
        users.append({"id": uid, "username": username, "display_name": display, "password_hash": password_hash,
                      "role": role, "county_id": fx.county_ids[county] if county else None, "phone": "",
                      "active": True, "session_version": 1, "failed_logins": 0, "created_at": now})
        fx.users[username] = uid
        return uid

    user("admin", "系统管理员", Role.ADMIN)
    coordinator = user("coordinator", "市工信局协调员", Role.COORDINATOR)
    user("coordinator_hc", "汇川区协调员", Role.COORDINATOR, "汇川区")
    user("leader", "市领导", Role.LEADER)
    by_specialty: dict[Specialty, list[int]] = {s: [] for s in Specialty}
    for i in range(scale.commissioners):
        specialty = list(Specialty)[i % len(Specialty)]
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)] + GIVEN[(i * 3 + 1) % len(GIVEN)]
        uid = user(f"commissioner{i + 1:02d}", f"{name}({specialty.label})", Role.COMMISSIONER)
        specialties.append({"user_id": uid, "specialty": specialty})
        by_specialty[specialty].append(uid)
        fx.commissioner_ids.append(uid)
    insert(User, users)
    insert(UserSpecialty, specialties)
    commissioner_name = {u["id"]: u["display_name"] for u in users}

    # enterprises: unique realistic names over the 15 counties, clusters following the industry word
    counties = list(COUNTY_WEIGHTS)
    weights = [COUNTY_WEIGHTS[c] for c in counties]
    industries = list(INDUSTRIES)
    seen: set[str] = set()
    enterprises: list[dict] = []
    statuses = ([EnterpriseStatus.ACTIVE] * 92 + [EnterpriseStatus.SUSPENDED] * 4
                + [EnterpriseStatus.MOVED_OUT] * 2 + [EnterpriseStatus.DEREGISTERED] * 2)
    while len(enterprises) < scale.enterprises:
        county = rng.choices(counties, weights)[0]
        prefix = rng.choice([COUNTY_PREFIX[county], COUNTY_PREFIX[county], "遵义", "贵州"])
        industry = rng.choice(industries)
        name = f"{prefix}{rng.choice(BRANDS)}{industry}{rng.choice(FORMS)}"
        key = name_key(name)
        if key in seen:
            name = f"{prefix}{rng.choice(BRANDS)}{rng.choice(BRANDS)}{industry}{rng.choice(FORMS)}"
            key = name_key(name)
            if key in seen:
                continue
        seen.add(key)
        eid = len(enterprises) + 1
        full, initials = pinyin_of(name)
        cluster, products = INDUSTRIES[industry]
        county_id = fx.county_ids[county]
        created = now - timedelta(days=rng.randint(30, 900), minutes=rng.randint(0, 1440))
        settled = rng.random() < 0.02
        enterprises.append({
            "id": eid, "name": name, "name_key": key, "name_pinyin": full, "name_initials": initials,
            "uscc": make_uscc(county, eid), "county_id": county_id,
            "park_id": rng.choice(parks_by_county[county_id]) if county_id in parks_by_county and rng.random() < 0.4
            else None,
            "cluster_id": fx.cluster_ids[cluster],
            "supply_category_id": rng.choice(category_ids) if rng.random() < 0.8 else None,
            "above_scale": rng.random() < 0.4, "main_products": products, "settled_from_chengyu": settled,
            "settled_on": today - timedelta(days=rng.randint(30, 700)) if settled else None,
            "status": rng.choice(statuses), "is_demo": False, "created_at": created,
            "updated_at": created + timedelta(days=rng.randint(0, 25)), "version": 1,
        })
    for special in enterprises[:2]:  # the detail page's long and plain records stay listable
        special["status"] = EnterpriseStatus.ACTIVE
    insert(Enterprise, enterprises)
    log(f"  {len(enterprises)} enterprises (pinyin included) in {perf_counter() - t0:.1f} s")

    t0 = perf_counter()
    contacts, figures, links, audits = [], [], [], []
    for e in enterprises:
        for _ in range(rng.choice((1, 1, 2))):
            contacts.append({"enterprise_id": e["id"], "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                             "post": rng.choice(POSTS), "phone": f"13{rng.randint(100000000, 999999999)}"})
        base = Decimal(rng.randint(500, 200000))
        for year in (today.year - 2, today.year - 1):
            output = (base * Decimal(rng.uniform(0.85, 1.25))).quantize(Decimal("0.01"))
            figures.append({"enterprise_id": e["id"], "year": year, "output_value": output,
                            "chengyu_output_value": (output * Decimal(rng.uniform(0, 0.6))).quantize(Decimal("0.01")),
                            "is_demo": False})
        if rng.random() < 0.35:
            for partner_id in rng.sample(partner_ids, rng.choice((1, 1, 2))):
                links.append({"enterprise_id": e["id"], "partner_id": partner_id, "supplies": e["main_products"]})
        audits.append({"at": e["created_at"], "actor_id": coordinator, "actor_name": "市工信局协调员",
                       "entity_type": "enterprise", "entity_id": e["id"], "enterprise_id": e["id"],
                       "action": "create", "summary": f"新建企业档案 {e['name']}",
                       "changes": {"name": [None, e["name"]], "uscc": [None, e["uscc"]]}})
    # one enterprise with a long record (the detail page's N+1 check compares it with a plain one)
    rich = enterprises[0]
    fx.rich_enterprise = rich["id"]
    fx.plain_enterprise = enterprises[1]["id"]
    contacts = [c for c in contacts if c["enterprise_id"] not in (rich["id"], fx.plain_enterprise)]
    figures = [f for f in figures if f["enterprise_id"] not in (rich["id"], fx.plain_enterprise)]
    links = [link for link in links if link["enterprise_id"] not in (rich["id"], fx.plain_enterprise)]
    contacts.append({"enterprise_id": fx.plain_enterprise, "name": "王伟", "post": "总经理", "phone": "13800000000"})
    figures.append({"enterprise_id": fx.plain_enterprise, "year": today.year - 1, "output_value": Decimal(1000),
                    "chengyu_output_value": Decimal(100), "is_demo": False})
    for i in range(12):
        contacts.append({"enterprise_id": rich["id"], "name": SURNAMES[i] + GIVEN[i], "post": POSTS[i % len(POSTS)],
                         "phone": f"1390000{i:04d}"})
    for year in range(today.year - 10, today.year):
        figures.append({"enterprise_id": rich["id"], "year": year, "output_value": Decimal(50000 + year),
                        "chengyu_output_value": Decimal(20000), "is_demo": False})
    for partner_id in partner_ids:
        links.append({"enterprise_id": rich["id"], "partner_id": partner_id, "supplies": rich["main_products"]})
    insert(EnterpriseContact, contacts)
    insert(EnterpriseFigure, figures)
    insert(EnterprisePartner, links)
    log(f"  {len(contacts)} contacts, {len(figures)} figures, {len(links)} partner links "
        f"in {perf_counter() - t0:.1f} s")

    # rosters: per list, three superseded editions, the published one and next half year's draft (a copy);
    # about 4% leave and 4% join at each refresh, the leavers with a RosterRemoval reason; the two lists overlap
    t0 = perf_counter()
    current = period_of(now)
    periods = [current]
    for _ in range(3):
        year, half = int(current[:4]), int(current[-1])
        current = f"{year - 1}H2" if half == 1 else f"{year}H1"
        periods.insert(0, current)
    periods.append(next_period(periods[-1]))
    fx.periods = periods
    eligible = [e["id"] for e in enterprises if e["status"] in (EnterpriseStatus.ACTIVE, EnterpriseStatus.SUSPENDED)
                and e["id"] != fx.plain_enterprise]
    size = scale.edition_size
    supplier = set(rng.sample(eligible, size))
    pool = set(rng.sample(sorted(supplier), size // 2)) | set(rng.sample(
        [i for i in eligible if i not in supplier], size - size // 2))
    supplier.add(rich["id"])
    pool.add(rich["id"])
    edition_rows, entry_rows, removal_rows = [], [], []
    for kind, members in ((RosterKind.SUPPLIER_LIST, supplier), (RosterKind.CULTIVATION_POOL, pool)):
        tiers: dict[int, Tier | None] = {}
        if kind is RosterKind.CULTIVATION_POOL:
            tiers = {i: rng.choices(list(Tier), (5, 10, 85))[0] for i in members}
        based_on = None
        for index, period in enumerate(periods):
            edition_id = len(edition_rows) + 1
            published = index < len(periods) - 1
            status = (EditionStatus.SUPERSEDED if index < len(periods) - 2
                      else EditionStatus.PUBLISHED if published else EditionStatus.DRAFT)
            opened = at(date(int(period[:4]), 1 if period.endswith("1") else 7, 1))
            edition_rows.append({
                "id": edition_id, "kind": kind, "period": period, "status": status, "based_on_id": based_on,
                "opened_at": opened, "opened_by_id": coordinator, "return_comment": "", "version": 1,
                "submitted_at": opened + timedelta(days=60) if published else None,
                "submitted_by_id": coordinator if published else None,
                "published_at": opened + timedelta(days=70) if published else None,
                "published_by_id": coordinator if published else None,
                "superseded_at": opened + timedelta(days=250) if status is EditionStatus.SUPERSEDED else None,
            })
            fx.editions[(kind.value, period)] = edition_id
            if index:  # a refresh: some leave (with a reason), some join, some pool tiers change
                churn = max(1, len(members) // 25)
                leaving = rng.sample(sorted(members - {rich["id"]}), churn)
                joining = rng.sample([i for i in eligible if i not in members], churn)
                members = (members - set(leaving)) | set(joining)
                for eid in leaving:
                    removal_rows.append({"edition_id": edition_id, "enterprise_id": eid,
                                         "reason": rng.choice(REMOVAL_REASONS), "removed_by_id": coordinator,
                                         "removed_at": opened + timedelta(days=10)})
                if tiers:
                    for eid in joining:
                        tiers[eid] = Tier.CULTIVATING
                    for eid in rng.sample(sorted(members), churn):
                        tiers[eid] = rng.choice(list(Tier))
            for eid in members:
                entry_rows.append({"edition_id": edition_id, "enterprise_id": eid, "reason": rng.choice(REASONS),
                                   "tier": tiers.get(eid), "proposed_by_id": coordinator, "created_at": opened})
            based_on = edition_id
            if status is EditionStatus.PUBLISHED:
                published_members = set(members)
        if kind is RosterKind.SUPPLIER_LIST:
            supplier = published_members
        else:
            pool = published_members
    # an empty draft further ahead, for the import that writes 5,000 new entries (rolled back)
    far = next_period(periods[-1])
    edition_rows.append({"id": len(edition_rows) + 1, "kind": RosterKind.SUPPLIER_LIST, "period": far,
                         "status": EditionStatus.DRAFT, "based_on_id": None, "opened_at": now,
                         "opened_by_id": coordinator, "return_comment": "", "version": 1, "submitted_at": None,
                         "submitted_by_id": None, "published_at": None, "published_by_id": None,
                         "superseded_at": None})
    fx.editions[(RosterKind.SUPPLIER_LIST.value, far)] = len(edition_rows)
    fx.empty_draft = (RosterKind.SUPPLIER_LIST.value, far)
    insert(RosterEdition, edition_rows)
    insert(RosterEntry, entry_rows)
    insert(RosterRemoval, removal_rows)
    log(f"  {len(edition_rows)} roster editions, {len(entry_rows)} entries, {len(removal_rows)} removals "
        f"in {perf_counter() - t0:.1f} s")

    # assignments: listed enterprises × five specialties, shared round-robin by the six commissioners of each
    # specialty (≈ 333 enterprises each at full scale), plus ended handovers for the history
    t0 = perf_counter()
    listed = sorted(supplier | pool)
    assigned = sorted(set(rng.sample(listed, min(scale.assigned, len(listed)))) | {rich["id"]})
    assignment_rows: list[dict] = []
    active: list[tuple[int, Specialty, int]] = []  # (enterprise, specialty, commissioner)
    for specialty, team in by_specialty.items():
        for index, eid in enumerate(assigned):
            commissioner = team[index % len(team)]
            started = today - timedelta(days=rng.randint(30, 600))
            if rng.random() < 0.2:  # a handover: the predecessor's assignment ended when this one started
                assignment_rows.append({
                    "id": len(assignment_rows) + 1, "enterprise_id": eid, "specialty": specialty,
                    "commissioner_id": team[(index + 1) % len(team)], "started_on": started - timedelta(days=300),
                    "ended_on": started, "end_reason": "交接", "created_at": at(started - timedelta(days=300))})
            assignment_rows.append({"id": len(assignment_rows) + 1, "enterprise_id": eid, "specialty": specialty,
                                    "commissioner_id": commissioner, "started_on": started, "ended_on": None,
                                    "end_reason": "", "created_at": at(started)})
            active.append((eid, specialty, commissioner))
    insert(Assignment, assignment_rows)
    for row in assignment_rows:
        audits.append({"at": row["created_at"], "actor_id": coordinator, "actor_name": "市工信局协调员",
                       "entity_type": "assignment", "entity_id": row["id"], "enterprise_id": row["enterprise_id"],
                       "action": "create", "summary": f"分配{row['specialty'].label}服务专员",
                       "changes": {"commissioner": [None, commissioner_name[row["commissioner_id"]]]}})
    log(f"  {len(assignment_rows)} assignments ({len(active)} active) in {perf_counter() - t0:.1f} s")

    # interactions: mostly by the assigned commissioners, some by coordinators, over two years
    t0 = perf_counter()
    channels = list(Channel)
    interaction_rows = []
    for iid in range(1, scale.interactions + 1):
        if rng.random() < 0.85:
            eid, specialty, author = rng.choice(active)
        else:
            eid, specialty, author = rng.choice(listed), rng.choice(list(Specialty)), coordinator
        day = today - timedelta(days=int(rng.triangular(0, 730, 0)))
        interaction_rows.append({
            "id": iid, "enterprise_id": eid, "occurred_on": day, "channel": rng.choice(channels),
            "specialty": specialty, "participants": rng.choice(SURNAMES) + rng.choice(GIVEN) + "、企业负责人",
            "summary": rng.choice(SUMMARIES),
            "next_follow_up": day + timedelta(days=30) if rng.random() < 0.3 else None,
            "created_by_id": author, "created_at": at(day, 16), "version": 1})
        if iid % 2 == 0:  # half of them with their audit row: the history page's realistic length
            audits.append({"at": at(day, 16), "actor_id": author, "actor_name": commissioner_name.get(author, ""),
                           "entity_type": "interaction", "entity_id": iid, "enterprise_id": eid, "action": "create",
                           "summary": "登记服务记录", "changes": {"date": [None, day.isoformat()]}})
    insert(Interaction, interaction_rows)
    log(f"  {len(interaction_rows)} interactions in {perf_counter() - t0:.1f} s")

    # requests in every status; open ones are recent, a good part of them overdue
    t0 = perf_counter()
    flow = [RequestStatus.RAISED, RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS, RequestStatus.RESOLVED,
            RequestStatus.CLOSED]
    categories = list(RequestCategory)
    request_rows, event_rows = [], []
    for rid in range(1, scale.requests + 1):
        eid, _specialty, owner = rng.choice(active) if rng.random() < 0.85 else (rng.choice(listed), None, None)
        status = rng.choices(flow, (8, 8, 14, 15, 55))[0]
        is_open = flow.index(status) < 3
        raised = today - timedelta(days=rng.randint(0, 60) if is_open else rng.randint(15, 730))
        step = flow.index(status)
        resolved_at = at(raised + timedelta(days=10)) if step >= 3 else None
        request_rows.append({
            "id": rid, "enterprise_id": eid, "category": rng.choice(categories),
            "description": rng.choice(DESCRIPTIONS), "interaction_id": None, "owner_id": owner,
            "department_id": rng.choice(department_ids) if rng.random() < 0.5 else None, "raised_on": raised,
            "due_date": raised + timedelta(days=14), "status": status,
            "satisfaction": rng.randint(3, 5) if status is RequestStatus.CLOSED else None,
            "resolved_at": resolved_at, "closed_at": at(raised + timedelta(days=20)) if step == 4 else None,
            "created_by_id": owner or coordinator, "created_at": at(raised), "updated_at": at(raised), "version": 1})
        previous = None
        for number, to in enumerate(flow[:step + 1]):
            event_rows.append({"request_id": rid, "at": at(raised + timedelta(days=number * 3)),
                               "actor_id": owner or coordinator, "from_status": previous, "to_status": to,
                               "note": "办理时限按10个工作日计算" if previous is None else "",
                               "satisfaction": request_rows[-1]["satisfaction"] if to is RequestStatus.CLOSED
                               else None})
            previous = to
        audits.append({"at": at(raised), "actor_id": owner or coordinator, "actor_name": "",
                       "entity_type": "service_request", "entity_id": rid, "enterprise_id": eid, "action": "create",
                       "summary": "登记诉求", "changes": {"status": [None, "raised"]}})
    insert(ServiceRequest, request_rows)
    insert(RequestEvent, event_rows)
    log(f"  {len(request_rows)} requests, {len(event_rows)} request events in {perf_counter() - t0:.1f} s")

    # policy deliveries (政策兑现): promised over two years, most delivered, some late
    t0 = perf_counter()
    delivery_rows = []
    for _ in range(scale.enterprises // 4):
        eid, _specialty, owner = rng.choice(active)
        promised = today - timedelta(days=rng.randint(-60, 700))
        status = rng.choices(list(DeliveryStatus), (30, 65, 5))[0]
        delivery_rows.append({
            "enterprise_id": eid, "kind": rng.choice(list(PolicyKind)), "promised": "兑现省级技改补助",
            "amount": Decimal(rng.randint(5, 500)), "promised_date": promised,
            "delivered_date": promised - timedelta(days=rng.randint(0, 20)) if status is DeliveryStatus.DELIVERED
            else None, "status": status, "evidence": "", "owner_id": owner,
            "department_id": rng.choice(department_ids), "overdue_notified_on": None, "created_by_id": coordinator,
            "created_at": at(promised - timedelta(days=60)), "updated_at": at(promised - timedelta(days=60)),
            "version": 1})
    insert(PolicyDelivery, delivery_rows)
    log(f"  {len(delivery_rows)} policy deliveries in {perf_counter() - t0:.1f} s")

    t0 = perf_counter()
    insert(AuditLog, audits)
    notifications = []
    for uid in [coordinator, *fx.commissioner_ids]:
        for i in range(200):
            created = now - timedelta(hours=i * 7)
            notifications.append({"user_id": uid, "kind": "assignment", "title": f"通知 {i}", "body": "",
                                  "link": "", "created_at": created, "read_at": created if i % 2 else None})
    insert(Notification, notifications)
    log(f"  {len(audits)} audit rows, {len(notifications)} notifications in {perf_counter() - t0:.1f} s")

    # search fragments a user would type: a brand word, the initials of brand + industry, the tail of a code
    sample = enterprises[len(enterprises) // 3]
    brand = next(b for b in BRANDS if b in sample["name"])
    industry = next(i for i in INDUSTRIES if i in sample["name"])
    fx.q_name = brand
    fx.q_initials = pinyin_of(brand + industry)[1][:4]
    fx.q_uscc = sample["uscc"][-8:]
    fx.counts = {"enterprises": len(enterprises), "contacts": len(contacts), "figures": len(figures),
                 "partner_links": len(links), "roster_editions": len(edition_rows), "roster_entries": len(entry_rows),
                 "assignments": len(assignment_rows), "active_assignments": len(active),
                 "interactions": len(interaction_rows), "requests": len(request_rows),
                 "request_events": len(event_rows), "policy_deliveries": len(delivery_rows),
                 "audit_rows": len(audits), "notifications": len(notifications), "users": len(users)}
    return fx


def finish_load() -> None:
    """After explicit ids: move PostgreSQL's sequences past them; VACUUM ANALYZE so the timings see the steady
    state autovacuum would reach after a bulk load (SQLite is left as the app leaves it: no ANALYZE)."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in db.metadata.sorted_tables:
        if "id" in table.c and table.c.id.primary_key:
            db.session.execute(sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")  # as autovacuum would leave it: statistics, visibility map
