"""The over-HTTP benchmark's data set at provincial scale, written with PostgreSQL ``COPY`` (psycopg 3).

At full size (:meth:`ProvinceScale.full`): 100,000 enterprises; both lists (配套企业名单 ``supplier_list`` and
重点企业培育库 ``cultivation_pool``) with 20,000 entries in each of 6 editions (4 superseded, the published one, next
half year's draft, a copy of it with a few changes) plus an empty draft ahead for the import; 500 commissioners
(100 per specialty) with every listed enterprise assigned in all five specialties (plus ended handovers); 2,000,000
interactions; 300,000 requests in every status with their timeline events (about a sixth overdue); 2,000 meetings
with enterprises, partner firms and officials; one coordinator per county, a city coordinator, an admin, a leader
(with a private calendar feed). One enterprise (:attr:`Manifest.rich_enterprise`) has exactly 200 interactions.

PostgreSQL only (``COPY``). Reproducible: the same ``seed`` and scale give the same rows. Rows are streamed into
``COPY`` in chunks, never held all at once. Names get ``name_key`` / pinyin / initials from
``crm.enterprises.domain`` (pinyin per name part — prefix, brand, industry, legal form — cached: 100,000 whole-name
calls would take ~35 s here); USCCs a valid check character (``benchmarks.data.make_uscc``).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from time import perf_counter
from typing import Any

import psycopg

from benchmarks.data import PASSWORD, at, make_uscc
from benchmarks.vocabulary import (
    BRANDS,
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

RICH_INTERACTIONS = 200
FEED_TOKEN = "bench-leader-calendar-feed-token-0001"  # the leader's private feed (only its SHA-256 is stored)
SPECIALTIES = ("tech", "finance", "legal", "media", "talent")
MEETING_TITLES = ["遵义—重庆汽车零部件产销对接会", "成渝地区企业家座谈会", "航空航天装备供应链洽谈会",
                  "电子信息产业配套对接会", "基础材料供需见面会", "成渝配套企业交流活动"]


@dataclass(frozen=True)
class ProvinceScale:
    enterprises: int = 100_000
    edition_size: int = 20_000
    editions: int = 6  # per list: superseded …, the published one, the draft
    commissioners: int = 500
    interactions: int = 2_000_000
    requests: int = 300_000
    meetings: int = 2_000

    @classmethod
    def full(cls) -> ProvinceScale:
        return cls()

    @classmethod
    def fraction(cls, share: float) -> ProvinceScale:
        """The full size times ``share`` (``0.01``: the smoke run), never below what the harness needs."""
        full = cls()
        return cls(enterprises=max(400, round(full.enterprises * share)),
                   edition_size=max(50, round(full.edition_size * share)), editions=full.editions,
                   commissioners=max(5, round(full.commissioners * share)),
                   interactions=max(2 * RICH_INTERACTIONS, round(full.interactions * share)),
                   requests=max(100, round(full.requests * share)), meetings=max(10, round(full.meetings * share)))

    def label(self) -> str:
        return f"{self.enterprises}e-{self.edition_size}x{self.editions}-{self.interactions}i"


@dataclass
class Manifest:
    """What the harness needs to know about a generated database; kept as the database's COMMENT (JSON), so
    ``--reuse`` finds it without generating again."""

    seed: int
    scale: dict
    password: str = PASSWORD
    admin: str = "admin"
    city_coordinator: str = "coordinator"
    county_coordinator: str = "coordinator_hc"  # 汇川区, the largest county
    county: str = "汇川区"
    leader: str = "leader"
    commissioner: str = ""  # one of the rich enterprise's commissioners
    rich_enterprise: int = 0  # exactly RICH_INTERACTIONS interactions
    periods: list[str] = field(default_factory=list)  # oldest … published, draft
    import_period: str = ""  # an empty supplier_list draft after the draft: the import writes there
    import_edition: int = 0
    import_usccs: list[str] = field(default_factory=list)  # enterprises in no supplier_list edition
    feed_token: str = FEED_TOKEN
    q_name: str = "鑫源"
    q_initials: str = "zyq"
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # table → seconds
    generated_in_s: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls(**json.loads(text))


# --- COPY --------------------------------------------------------------------------------------------------------

def copy_rows(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
    """``COPY table (columns) FROM STDIN`` of ``rows`` (tuples in ``columns`` order); the number written."""
    n = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


@cache
def _pinyin(part: str) -> tuple[str, str]:
    from crm.enterprises.domain import pinyin_of

    return pinyin_of(part)


def pinyin_parts(parts: Iterable[str]) -> tuple[str, str]:
    full, initials = zip(*(_pinyin(p) for p in parts), strict=True)
    return "".join(full), "".join(initials)


# --- generation --------------------------------------------------------------------------------------------------

def generate(conn: psycopg.Connection, scale: ProvinceScale, seed: int, log: Callable[[str], None]) -> Manifest:
    """Fill a migrated database holding the reference data (``load_reference_data``); commits; returns the
    manifest. Sequences and ``VACUUM (ANALYZE)``: :func:`finish`."""
    from crm.enterprises.domain import name_key
    from crm.rosters.domain import next_period, period_of

    generation_started = perf_counter()
    rng = random.Random(seed)
    mf = Manifest(seed=seed, scale=asdict(scale))
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()  # UTC date: the data set's "today" (a day off near midnight does not matter)

    def timed(name: str, t0: float, count: int) -> None:
        mf.timings[name] = round(perf_counter() - t0, 2)
        mf.counts[name] = mf.counts.get(name, 0) + count
        log(f"  {name:<22} {count:>10,} rows {mf.timings[name]:7.1f} s")

    def ids(sql: str) -> list[tuple]:
        return conn.execute(sql).fetchall()

    county_ids = {name: cid for cid, name in ids("SELECT id, name FROM counties")}
    cluster_ids = {name: cid for cid, name in ids("SELECT id, name FROM clusters")}
    category_ids = [r[0] for r in ids("SELECT id FROM supply_categories ORDER BY id")]
    partner_ids = [r[0] for r in ids("SELECT id FROM partners ORDER BY id")]
    department_ids = [r[0] for r in ids("SELECT id FROM departments ORDER BY id")]
    parks: dict[int, list[int]] = {}
    for pid, cid in ids("SELECT id, county_id FROM parks ORDER BY id"):
        parks.setdefault(cid, []).append(pid)

    # --- users
    t0 = perf_counter()
    from crm.auth.domain import hash_password

    password_hash = hash_password(PASSWORD)
    users: list[tuple] = []

    def user(username: str, display: str, role: str, county: str | None = None) -> int:
        uid = len(users) + 1
        users.append((uid, username, display, password_hash, role, county_ids[county] if county else None, "",
                      True, 1, 0, now))
        return uid

    user("admin", "系统管理员", "admin")
    coordinator = user("coordinator", "市工信局协调员", "coordinator")
    county_names = sorted(county_ids)
    for index, county in enumerate(county_names):
        name = "coordinator_hc" if county == "汇川区" else f"coordinator_{index + 1:02d}"
        user(name, f"{county}协调员", "coordinator", county)
    leader = user("leader", "市领导", "leader")
    team: dict[str, list[int]] = {s: [] for s in SPECIALTIES}
    specialty_rows = []
    display: dict[int, str] = {}
    for i in range(scale.commissioners):
        specialty = SPECIALTIES[i % len(SPECIALTIES)]
        person = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)] + GIVEN[(i // 30 + i * 3) % len(GIVEN)]
        uid = user(f"commissioner{i + 1:03d}", f"{person}{i + 1:03d}", "commissioner")
        display[uid] = person
        team[specialty].append(uid)
        specialty_rows.append((uid, specialty))
    n = copy_rows(conn, "users", ("id", "username", "display_name", "password_hash", "role", "county_id", "phone",
                                  "active", "session_version", "failed_logins", "created_at"), users)
    copy_rows(conn, "user_specialties", ("user_id", "specialty"), specialty_rows)
    token_hash = hashlib.sha256(FEED_TOKEN.encode()).hexdigest()
    copy_rows(conn, "calendar_feed_tokens", ("id", "user_id", "token_hash", "created_at"),
              [(1, leader, token_hash, now)])
    timed("users", t0, n)

    # --- enterprises (+ contacts, two years of figures, 成渝 partner links, the creation audit row)
    t0 = perf_counter()
    counties = list(COUNTY_WEIGHTS)
    weights = [COUNTY_WEIGHTS[c] for c in counties]
    industries = list(INDUSTRIES)
    seen: set[str] = set()
    enterprises: list[tuple[int, str, str, int]] = []  # (id, name, status, county_id)
    statuses = ["active"] * 92 + ["suspended"] * 4 + ["moved_out"] * 2 + ["deregistered"] * 2

    def enterprise_rows() -> Iterator[tuple]:
        while len(enterprises) < scale.enterprises:
            county = rng.choices(counties, weights)[0]
            prefix = rng.choice([COUNTY_PREFIX[county], COUNTY_PREFIX[county], "遵义", "贵州"])
            industry = rng.choice(industries)
            brands = [rng.choice(BRANDS)]
            form = rng.choice(FORMS)
            name = f"{prefix}{brands[0]}{industry}{form}"
            key = name_key(name)
            if key in seen:
                brands.append(rng.choice(BRANDS))
                name = f"{prefix}{''.join(brands)}{industry}{form}"
                key = name_key(name)
                if key in seen:
                    continue
            seen.add(key)
            eid = len(enterprises) + 1
            full, initials = pinyin_parts([prefix, *brands, industry, form])
            cluster, products = INDUSTRIES[industry]
            county_id = county_ids[county]
            status = "active" if eid == 1 else rng.choice(statuses)
            enterprises.append((eid, name, status, county_id))
            created = now - timedelta(days=rng.randint(30, 1500), minutes=rng.randint(0, 1440))
            settled = rng.random() < 0.02
            yield (eid, name, key, full, initials, make_uscc(county, eid), county_id,
                   rng.choice(parks[county_id]) if county_id in parks and rng.random() < 0.4 else None,
                   cluster_ids[cluster], rng.choice(category_ids) if rng.random() < 0.8 else None,
                   rng.random() < 0.4, products, settled,
                   today - timedelta(days=rng.randint(30, 700)) if settled else None, status, False, created,
                   created + timedelta(days=rng.randint(0, 25)), 1)

    n = copy_rows(conn, "enterprises", (
        "id", "name", "name_key", "name_pinyin", "name_initials", "uscc", "county_id", "park_id", "cluster_id",
        "supply_category_id", "above_scale", "main_products", "settled_from_chengyu", "settled_on", "status",
        "is_demo", "created_at", "updated_at", "version"), enterprise_rows())
    timed("enterprises", t0, n)

    t0 = perf_counter()
    contacts = [(e[0], rng.choice(SURNAMES) + rng.choice(GIVEN), rng.choice(POSTS),
                 f"13{rng.randint(100000000, 999999999)}") for e in enterprises]
    n = copy_rows(conn, "enterprise_contacts", ("enterprise_id", "name", "post", "phone"), contacts)
    figures = []
    for e in enterprises:
        base = rng.randint(500, 200000)
        for year in (today.year - 2, today.year - 1):
            output = Decimal(base * rng.randint(85, 125)) / 100
            figures.append((e[0], year, output, (output * rng.randint(0, 60) / 100).quantize(Decimal("0.01")),
                            False))
    n += copy_rows(conn, "enterprise_figures",
                   ("enterprise_id", "year", "output_value", "chengyu_output_value", "is_demo"), figures)
    links = [(e[0], p, "配套零部件", False) for e in enterprises if rng.random() < 0.35
             for p in rng.sample(partner_ids, min(len(partner_ids), rng.choice((1, 1, 2))))]
    n += copy_rows(conn, "enterprise_partners", ("enterprise_id", "partner_id", "supplies", "is_demo"), links)
    audit_id = 0

    def audits() -> Iterator[tuple]:
        nonlocal audit_id
        for eid, name, _status, _county in enterprises:
            audit_id += 1
            yield (audit_id, now - timedelta(days=30), coordinator, "市工信局协调员", "enterprise", eid, eid,
                   "create", f"新建企业档案 {name}", json.dumps({"name": [None, name]}, ensure_ascii=False))

    n += copy_rows(conn, "audit_log", ("id", "at", "actor_id", "actor_name", "entity_type", "entity_id",
                                       "enterprise_id", "action", "summary", "changes"), audits())
    del contacts, figures
    timed("contacts/figures/links/audit", t0, n)

    # --- rosters: per list, editions oldest … published, then the draft; ~4% churn per refresh (leavers with a
    # removal reason, pool tiers moving); the draft is the published one with a few proposals; the two lists
    # overlap by half
    t0 = perf_counter()
    current = period_of(now)
    periods = [current]
    for _ in range(scale.editions - 2):
        year, half = int(current[:4]), int(current[-1])
        current = f"{year - 1}H2" if half == 1 else f"{year}H1"
        periods.insert(0, current)
    periods.append(next_period(periods[-1]))
    mf.periods = periods
    rich = 1
    mf.rich_enterprise = rich
    eligible = [e[0] for e in enterprises if e[2] in ("active", "suspended")]
    size = min(scale.edition_size, len(eligible) // 3)
    supplier = set(rng.sample(eligible, size - 1)) | {rich}
    others = [i for i in eligible if i not in supplier]
    pool = set(rng.sample(sorted(supplier - {rich}), size // 2 - 1)) | set(rng.sample(others, size - size // 2)) \
        | {rich}
    editions, entry_count, removals = [], 0, []
    published: dict[str, set[int]] = {}
    ever_supplier: set[int] = set()

    def entries() -> Iterator[tuple]:
        nonlocal entry_count
        for kind, start in (("supplier_list", supplier), ("cultivation_pool", pool)):
            members = set(start)
            tiers = {i: rng.choices(("leader", "chain_master", "cultivating"), (5, 10, 85))[0] for i in members} \
                if kind == "cultivation_pool" else {}
            based_on = None
            for index, period in enumerate(periods):
                edition_id = len(editions) + 1
                draft = index == len(periods) - 1
                status = ("draft" if draft else "published" if index == len(periods) - 2 else "superseded")
                opened = at(date(int(period[:4]), 1 if period.endswith("1") else 7, 1))
                editions.append((edition_id, kind, period, status, based_on, opened, coordinator, "", 1,
                                 None if draft else opened + timedelta(days=60), None if draft else coordinator,
                                 None if draft else opened + timedelta(days=70), None if draft else coordinator,
                                 opened + timedelta(days=250) if status == "superseded" else None))
                if index:  # a refresh: ~4% leave with a reason, as many join, some tiers move (the draft: 1%)
                    churn = max(1, len(members) // (100 if draft else 25))
                    leaving = rng.sample(sorted(members - {rich}), churn)
                    joining = rng.sample([i for i in eligible if i not in members], churn)
                    members = (members - set(leaving)) | set(joining)
                    for eid in leaving:
                        removals.append((edition_id, eid, rng.choice(REMOVAL_REASONS), coordinator,
                                         opened + timedelta(days=10)))
                    if tiers:
                        for eid in joining:
                            tiers[eid] = "cultivating"
                        for eid in rng.sample(sorted(members), churn):
                            tiers[eid] = rng.choice(("leader", "chain_master", "cultivating"))
                if status == "published":
                    published[kind] = set(members)
                if kind == "supplier_list":
                    ever_supplier.update(members)
                for eid in sorted(members):
                    entry_count += 1
                    yield (entry_count, edition_id, eid, REASONS[eid % len(REASONS)], tiers.get(eid), coordinator,
                           opened)
                based_on = edition_id

    # the editions must exist before their entries: collect the entries' rows first (≈ 240,000 tuples)
    entry_rows = list(entries())
    import_period = next_period(periods[-1])
    editions.append((len(editions) + 1, "supplier_list", import_period, "draft", None, now, coordinator, "", 1,
                     None, None, None, None, None))
    mf.import_period, mf.import_edition = import_period, len(editions)
    copy_rows(conn, "roster_editions", (
        "id", "kind", "period", "status", "based_on_id", "opened_at", "opened_by_id", "return_comment", "version",
        "submitted_at", "submitted_by_id", "published_at", "published_by_id", "superseded_at"), editions)
    n = copy_rows(conn, "roster_entries", ("id", "edition_id", "enterprise_id", "reason", "tier", "proposed_by_id",
                                           "created_at"), entry_rows)
    copy_rows(conn, "roster_removals", ("edition_id", "enterprise_id", "reason", "removed_by_id", "removed_at"),
              removals)
    del entry_rows
    outside = [e for e in enterprises if e[0] not in ever_supplier and e[2] == "active"]
    import_size = min(5000, len(outside))
    uscc_of = dict(conn.execute("SELECT id, uscc FROM enterprises").fetchall())
    mf.import_usccs = [uscc_of[e[0]] for e in rng.sample(outside, import_size)]
    timed("roster editions/entries", t0, n)

    # --- assignments: every listed enterprise (either list's published edition) × five specialties, spread over
    # that specialty's commissioners; a fifth with an ended predecessor (a handover)
    t0 = perf_counter()
    listed = sorted(published["supplier_list"] | published["cultivation_pool"])
    assignment_rows: list[tuple] = []
    active: list[tuple[int, str, int]] = []
    for specialty, members in team.items():
        offset = SPECIALTIES.index(specialty)
        for index, eid in enumerate(listed):
            commissioner = members[(index * 7 + offset) % len(members)]
            started = today - timedelta(days=rng.randint(30, 600))
            if rng.random() < 0.2:
                assignment_rows.append((len(assignment_rows) + 1, eid, specialty,
                                        members[(index * 7 + offset + 1) % len(members)],
                                        started - timedelta(days=300), started, "交接",
                                        at(started - timedelta(days=300))))
            assignment_rows.append((len(assignment_rows) + 1, eid, specialty, commissioner, started, None, "",
                                    at(started)))
            active.append((eid, specialty, commissioner))
    n = copy_rows(conn, "assignments", ("id", "enterprise_id", "specialty", "commissioner_id", "started_on",
                                        "ended_on", "end_reason", "created_at"), assignment_rows)
    mf.commissioner = next(f"commissioner{c - (len(users) - scale.commissioners):03d}"
                           for e, s, c in active if e == rich and s == "tech")
    timed("assignments", t0, n)

    # --- interactions: 85% by the assigned commissioner, the rest by the city coordinator; two years, recent
    # ones denser; the rich enterprise gets exactly RICH_INTERACTIONS (and their audit rows, for its history)
    t0 = perf_counter()
    channels = ("visit", "call", "online", "meeting")
    pickable = [a for a in active if a[0] != rich]
    listed_others = [e for e in listed if e != rich]
    rich_active = [a for a in active if a[0] == rich]
    rich_audits = []

    def interactions() -> Iterator[tuple]:
        nonlocal audit_id
        total = scale.interactions
        for iid in range(1, total + 1):
            if iid <= RICH_INTERACTIONS:
                eid, specialty, author = rich_active[iid % len(rich_active)]
            elif rng.random() < 0.85:
                eid, specialty, author = pickable[int(rng.random() * len(pickable))]
            else:
                eid, specialty, author = (listed_others[int(rng.random() * len(listed_others))],
                                          SPECIALTIES[iid % 5], coordinator)
            day = today - timedelta(days=int(rng.triangular(0, 730, 0)))
            if iid <= RICH_INTERACTIONS:
                audit_id += 1
                rich_audits.append((audit_id, at(day, 16), author, display.get(author, ""), "interaction", iid, eid,
                                    "create", "登记服务记录", json.dumps({"date": [None, day.isoformat()]})))
            yield (iid, eid, day, channels[iid % 4], specialty, SURNAMES[iid % 30] + GIVEN[iid % 32] + "、企业负责人",
                   SUMMARIES[iid % len(SUMMARIES)], day + timedelta(days=30) if rng.random() < 0.3 else None,
                   author, at(day, 16), 1)

    n = copy_rows(conn, "interactions", ("id", "enterprise_id", "occurred_on", "channel", "specialty",
                                         "participants", "summary", "next_follow_up", "created_by_id", "created_at",
                                         "version"), interactions())
    copy_rows(conn, "audit_log", ("id", "at", "actor_id", "actor_name", "entity_type", "entity_id", "enterprise_id",
                                  "action", "summary", "changes"), rich_audits)
    timed("interactions", t0, n)

    # --- requests in every status; open ones recent (due in 14 days: about half of them overdue), each with its
    # timeline (one event per status reached)
    t0 = perf_counter()
    flow = ("raised", "accepted", "in_progress", "resolved", "closed")
    from crm.service.models import RequestCategory

    categories = [c.value for c in RequestCategory]
    events: list[tuple] = []

    def requests() -> Iterator[tuple]:
        for rid in range(1, scale.requests + 1):
            if rng.random() < 0.85:
                eid, _specialty, owner = pickable[int(rng.random() * len(pickable))]
            else:
                eid, owner = listed_others[int(rng.random() * len(listed_others))], None
            step = rng.choices(range(5), (10, 8, 12, 15, 55))[0]
            is_open = step < 3
            raised = today - timedelta(days=rng.randint(0, 30) if is_open else rng.randint(15, 730))
            satisfaction = rng.randint(3, 5) if step == 4 else None
            actor = owner or coordinator
            previous = None
            for number in range(step + 1):
                events.append((rid, at(raised + timedelta(days=number * 3)), actor, previous, flow[number],
                               "办理时限按10个工作日计算" if previous is None else "",
                               satisfaction if number == 4 else None))
                previous = flow[number]
            yield (rid, eid, categories[rid % len(categories)], DESCRIPTIONS[rid % len(DESCRIPTIONS)], owner,
                   department_ids[rid % len(department_ids)] if rid % 2 else None, raised,
                   raised + timedelta(days=14), flow[step], satisfaction,
                   at(raised + timedelta(days=10)) if step >= 3 else None,
                   at(raised + timedelta(days=20)) if step == 4 else None, actor, at(raised), at(raised), 1)

    n = copy_rows(conn, "service_requests", (
        "id", "enterprise_id", "category", "description", "owner_id", "department_id", "raised_on", "due_date",
        "status", "satisfaction", "resolved_at", "closed_at", "created_by_id", "created_at", "updated_at", "version"),
        requests())
    timed("requests", t0, n)
    t0 = perf_counter()
    n = copy_rows(conn, "request_events", ("request_id", "at", "actor_id", "from_status", "to_status", "note",
                                           "satisfaction"), events)
    events.clear()
    timed("request_events", t0, n)

    # --- meetings over three years (past ones held or cancelled, future ones planned or confirmed), 5–20
    # enterprises, 1–3 partner firms, 2–5 officials each (the leader in a third of them)
    t0 = perf_counter()
    kinds = ("supply_demand", "entrepreneur_forum", "supply_chain", "other")
    meeting_rows, m_enterprises, m_partners, m_officials = [], [], [], []
    staff = [u[0] for u in users if u[4] in ("coordinator", "commissioner")]
    for mid in range(1, scale.meetings + 1):
        starts = at(today + timedelta(days=rng.randint(-730, 365)), rng.choice((9, 10, 14, 15)))
        past = starts < now
        status = rng.choices(("held", "cancelled"), (9, 1))[0] if past else rng.choice(("planned", "confirmed"))
        meeting_rows.append((mid, kinds[mid % 4], MEETING_TITLES[mid % len(MEETING_TITLES)] + f"(第{mid}场)", starts,
                             starts + timedelta(hours=3), "遵义市会议中心", rng.choice(("遵义", "重庆", "成都")),
                             department_ids[mid % len(department_ids)], status, "", "",
                             "日程调整" if status == "cancelled" else "", "", 0, coordinator,
                             starts - timedelta(days=30), starts - timedelta(days=30), 1))
        m_enterprises += [(mid, eid, "") for eid in rng.sample(listed, min(len(listed), rng.randint(5, 20)))]
        m_partners += [(mid, p) for p in rng.sample(partner_ids, min(len(partner_ids), rng.randint(1, 3)))]
        officials = set(rng.sample(staff, min(len(staff), rng.randint(2, 5))))
        if mid % 3 == 0:
            officials.add(leader)
        m_officials += [(mid, uid) for uid in sorted(officials)]
    n = copy_rows(conn, "meetings", ("id", "kind", "title", "starts_at", "ends_at", "venue", "city", "department_id",
                                     "status", "agenda", "outcome_summary", "cancel_reason", "proposed_by",
                                     "sequence", "created_by_id", "created_at", "updated_at", "version"),
                  meeting_rows)
    copy_rows(conn, "meeting_enterprises", ("meeting_id", "enterprise_id", "invited_via"), m_enterprises)
    copy_rows(conn, "meeting_partners", ("meeting_id", "partner_id"), m_partners)
    copy_rows(conn, "meeting_officials", ("meeting_id", "user_id"), m_officials)
    timed("meetings", t0, n)
    conn.commit()

    mf.counts.update({"users": len(users), "commissioners": scale.commissioners, "listed": len(listed),
                      "active_assignments": len(active), "roster_editions": len(editions),
                      "meeting_enterprises": len(m_enterprises)})
    mf.generated_in_s = round(perf_counter() - generation_started, 1)
    return mf


def finish(conn: psycopg.Connection, log: Callable[[str], None]) -> dict[str, float]:
    """Sequences past the explicit ids, then ``VACUUM (ANALYZE)`` (the steady state after a bulk load)."""
    timings: dict[str, float] = {}
    t0 = perf_counter()
    tables = [r[0] for r in conn.execute(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_name = c.table_name AND t.table_schema = c.table_schema "
        "WHERE c.table_schema = 'public' AND c.column_name = 'id' AND t.table_type = 'BASE TABLE'").fetchall()]
    for table in tables:
        seq = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
        if seq:
            conn.execute(f"SELECT setval('{seq}', COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
    conn.commit()
    timings["sequences"] = round(perf_counter() - t0, 2)
    t0 = perf_counter()
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute("VACUUM (ANALYZE)")
    finally:
        conn.autocommit = autocommit
    timings["vacuum_analyze"] = round(perf_counter() - t0, 2)
    log(f"  sequences {timings['sequences']:.1f} s, VACUUM (ANALYZE) {timings['vacuum_analyze']:.1f} s")
    return timings


def summary_counts(conn: psycopg.Connection) -> dict[str, Any]:
    """Row counts of the main tables as the database has them (for the JSON and the tests)."""
    tables = ("enterprises", "users", "roster_editions", "roster_entries", "assignments", "interactions",
              "service_requests", "request_events", "meetings", "meeting_enterprises", "audit_log")
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
