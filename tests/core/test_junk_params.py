"""No 500 from a URL (issue 10, item 7): every GET route of the URL map, its path filled with real ids, requested
with junk query parameters as each role — pages with a session, /api/v1 with a bearer token. Never a 5xx.

A new GET route is covered without editing this file; one with a path argument of a new name fails here until
that name is given a value in ``path_values`` (or the route is skipped in ``SKIPPED`` with a reason).
"""

from __future__ import annotations

import itertools
from datetime import date

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.reference.models import Department, PlanTarget, Target
from crm.rosters.models import RosterImport, RosterKind
from crm.service.models import (
    Channel,
    DeliveryStatus,
    Interaction,
    PolicyDelivery,
    PolicyKind,
    RequestCategory,
    RequestStatus,
    ServiceRequest,
)
from tests.conftest import api_token, assign, login, make_enterprise, make_park, make_user
from tests.meetings.factories import make_meeting, partner
from tests.rosters.factories import published_edition
from tests.tasks.factories import make_report, safeguard, unit

# Two sets: the pages refuse any NUL byte up front (crm/web.py), so the second set, without one, reaches each
# view's own parsing of its parameters.
WITH_NUL = ("kind=x&status=%00&page=-1&per_page=99999&year=abc&from=2026-13-45&to=x&county=%E4%B8%8D%E5%AD%98%E5%9C%A8"
            "&q=%27%22%3C&_method=POST&sort=;drop&enterprise_id=1e999&format=xlsx&period=%00&specialty=%00"
            "&meeting_id=99999999999999999999&id=-1&month=13&start=x&end=%00&date=0000-00-00&half=9&tier=x")
NO_NUL = ("kind=x&status=zz&page=99999999999999999999&per_page=-5&year=99999999999999999999&from=2026-02-30"
          "&to=9999-12-31&county=%E4%B8%8D%E5%AD%98%E5%9C%A8&q=%25_%5C&_method=DELETE&sort=-id&enterprise_id=-1"
          "&format=pdf&period=2026H9&specialty=x&meeting_id=1e999&id=%C2%B2&month=0&start=2026-01-01T99:00"
          "&end=-1&date=x&half=3&tier=99&user_id=99999999999999999999&department_id=abc&owner_id=0&park_id=x"
          "&target=2147483648&edition=x&from_period=1999H1&to_period=%E4%B8%8D&limit=-1&offset=99999999999999999999")
# Every parameter a view reads, with text where a number or a name is meant …
KEYS = ("category", "city", "cluster", "commissioner", "county", "department", "end", "enterprise_id", "figure_year",
        "from", "interaction_id", "job", "kind", "measure", "next", "outcome", "owner", "page", "per_page", "q",
        "region", "specialty", "start", "status", "to", "unread", "year", "overdue", "period", "edition", "tier")
TEXT = "&".join(f"{key}=%E4%B8%8D%27x%3C" for key in KEYS) + "&_method=POST&formdata=1"
# … and numbers beyond every integer range, negative, exponent or Unicode digits (PostgreSQL-only 500s).
BIG = "&".join(f"{key}=99999999999999999999" for key in KEYS)
INT4 = "&".join(f"{key}=2147483648" for key in KEYS)
ODD = "&".join(f"{key}={value}" for key, value in zip(
    KEYS, itertools.cycle(("-9223372036854775809", "1e999", "%C2%B2", "-1", "0", "%EF%BC%91"))))
LONG = "&".join(f"{key}={'9' * 4400}" for key in KEYS)  # int() refuses more than 4300 digits: a ValueError
JUNK_SETS = {"without NUL": NO_NUL, "text": TEXT, "beyond int8": BIG, "beyond int4": INT4, "odd numbers": ODD,
             "4400 digits": LONG}
# (the set with a NUL byte is answered 400 before any view: test_the_sweep_answers_as_each_role_should)


SKIPPED = {"static": "files from disk, no query parameters read"}

ROLES = ("admin", "city_coordinator", "county_coordinator", "commissioner", "leader", "liaison", "anonymous")


def get_rules(app):
    return [rule for rule in app.url_map.iter_rules() if "GET" in rule.methods]


@pytest.fixture
def world():
    """A small data set: one of each record a GET route names, reachable by the commissioner and the county."""
    users = {
        "admin": make_user("admin"),
        "city_coordinator": make_user("coordinator"),
        "county_coordinator": make_user("coordinator", county="汇川区"),
        "commissioner": make_user("commissioner", specialties=["tech"]),
        "leader": make_user("leader"),
        "liaison": make_user("liaison", department="市自然资源局"),  # the request and the delivery are routed to them
    }
    enterprise = make_enterprise(county="汇川区")
    assign(enterprise, users["commissioner"])
    edition = published_edition(RosterKind.SUPPLIER_LIST, "2026H1", [enterprise])
    meeting = make_meeting(enterprises=[enterprise], partners=[partner()], officials=[users["commissioner"]])
    owner = users["commissioner"]
    request = ServiceRequest(enterprise=enterprise, category=RequestCategory.PROJECT, description="申请技改资金",
                             owner=owner, raised_on=date(2026, 3, 1), due_date=date(2026, 3, 15),
                             status=RequestStatus.IN_PROGRESS, department=users["liaison"].department)
    delivery = PolicyDelivery(enterprise=enterprise, kind=PolicyKind.POWER, promised="执行大工业用电优惠电价",
                              amount=None, owner=owner, promised_date=date(2026, 3, 31),
                              status=DeliveryStatus.PROMISED, department=users["liaison"].department)
    interaction = Interaction(enterprise=enterprise, occurred_on=date(2026, 3, 2), channel=list(Channel)[0],
                              specialty="tech", summary="走访", created_by_id=owner.id)
    roster_import = RosterImport(edition_id=edition.id, user_id=users["city_coordinator"].id, filename="名单.xlsx")
    db.session.add_all([request, delivery, interaction, roster_import])
    park = make_park("遵义参数测试园区")
    from crm.meetings.feed import issue_feed_token
    from crm.notifications.domain import notify

    notify(users.values(), "refresh_opened", "通知")
    feed_token = issue_feed_token(users["leader"])
    from crm.tasks import supervision  # 专项督导 of 汇川区, its item owned by the liaison's unit

    visit = supervision.create_visit(users["city_coordinator"], {
        "visited_on": "2026-03-02", "county": "汇川区", "subject": "参数测试督导"}, today=date(2026, 3, 2))
    item = supervision.add_item(users["city_coordinator"], visit, {
        "description": "参数测试整改", "department": "市自然资源局", "due_workdays": 5})
    report = make_report(safeguard(2), unit("汇川区人民政府"))
    db.session.commit()  # into the test's outer transaction: a request's rollback must not take the data set

    def first(model) -> int:
        return db.session.scalar(sa.select(sa.func.min(model.id))) or 1

    path_values = {
        "enterprise_id": enterprise.id, "user_id": users["commissioner"].id, "year": 2026,
        "meeting_id": meeting.id, "partner_id": partner().id, "delivery_id": delivery.id,
        "request_id": request.id, "interaction_id": interaction.id, "kind": RosterKind.SUPPLIER_LIST.value,
        "period": "2026H1", "fmt": "xlsx", "token": feed_token, "department_id": first(Department),
        "park_id": park.id, "plan_target_id": first(PlanTarget), "target_id": first(Target),
        "import_id": roster_import.id, "supervision_id": visit.id, "item_id": item.id,
        "task_id": report.task_id, "report_id": report.id, "attachment_id": report.attachments[0].id,
    }
    return users, path_values


def urls(app, path_values: dict, junk: str = WITH_NUL) -> tuple[list[str], list[str]]:
    """Every GET rule as a URL with junk parameters, and the rules this sweep left out (none but ``SKIPPED``)."""
    built, missing = [], []
    for rule in get_rules(app):
        if rule.endpoint in SKIPPED:
            continue
        unknown = set(rule.arguments) - set(path_values)
        if unknown:
            missing.append(f"{rule.rule}: no value for {sorted(unknown)}")
            continue
        path = rule.build({name: path_values[name] for name in rule.arguments}, append_unknown=False)[1]
        built.append(f"{path}?{junk}")
    return built, missing


def sweep(app, client, users, path_values, role: str, junk: str = WITH_NUL) -> dict[str, int]:
    headers = {}
    if role != "anonymous":
        login(client, users[role])
        headers = api_token(users[role])
        db.session.commit()
    built, missing = urls(app, path_values, junk)
    assert not missing, missing
    assert len(built) + len(SKIPPED) == len(get_rules(app))
    statuses = {}
    for url in built:
        response = client.get(url, headers=headers if url.startswith("/api/v1/") else {})
        statuses[url.split("?")[0]] = response.status_code
    return statuses


@pytest.mark.parametrize(("role", "junk"), [
    *[pytest.param(role, junk, id=f"{role}-{name}") for role in ROLES[:-1] for name, junk in JUNK_SETS.items()],
    pytest.param("anonymous", NO_NUL, id="anonymous"),  # signed out, every page is the sign-in redirect
])
def test_no_get_route_answers_5xx_to_junk_parameters(app, client, world, role, junk):
    users, path_values = world
    statuses = sweep(app, client, users, path_values, role, junk)
    errors = {url: status for url, status in statuses.items() if status >= 500}
    assert not errors, errors


def test_the_sweep_answers_as_each_role_should(app, client, world):
    users, path_values = world
    e, m = path_values["enterprise_id"], path_values["meeting_id"]
    statuses = sweep(app, client, users, path_values, "admin", WITH_NUL)
    assert set(statuses.values()) == {400}  # a NUL byte anywhere: refused before any view, page or API
    statuses = sweep(app, app.test_client(), users, path_values, "anonymous", NO_NUL)
    assert statuses[f"/enterprises/{e}"] == 302 and statuses[f"/api/v1/enterprises/{e}"] == 401
    statuses = sweep(app, app.test_client(), users, path_values, "leader", NO_NUL)
    assert statuses[f"/enterprises/{e}/edit"] == 403 and statuses["/admin/users"] == 403
    assert statuses[f"/meetings/{m}"] == 200 and statuses[f"/api/v1/meetings/{m}"] == 200
    statuses = sweep(app, app.test_client(), users, path_values, "admin", NO_NUL)
    assert statuses[f"/enterprises/{e}"] == 200 and statuses["/enterprises/"] == 400  # page out of range
    assert statuses["/api/v1/enterprises"] == 400 and statuses[f"/api/v1/enterprises/{e}"] == 200


def test_a_route_left_out_of_the_sweep_is_named(app, world):
    _, path_values = world
    del path_values["meeting_id"]
    _, missing = urls(app, path_values)
    assert any(line.startswith("/meetings/<int:meeting_id>") for line in missing)


@pytest.mark.parametrize("role", ["admin", "county_coordinator", "commissioner"])
def test_junk_in_the_path_is_never_a_5xx(app, client, world, role):
    """The string arguments of the map (a list's kind, a half-year period, a feed token, a file format) with junk."""
    users, path_values = world
    login(client, users[role])
    headers = api_token(users[role])
    db.session.commit()
    junk = {"kind": ["x", "SUPPLIER_LIST", "供应"], "period": ["2026H9", "99999999999999999999H1", "2026h1", "H1",
                                                             "%27"],
            "token": ["x", "%E4%B8%8D"], "fmt": ["pdf", "XLSX"]}
    errors = {}
    for rule in get_rules(app):
        strings = [name for name in rule.arguments if name in junk]
        if rule.endpoint in SKIPPED or not strings:
            continue
        for values in itertools.product(*(junk[name] for name in strings)):
            args = {**{name: path_values[name] for name in rule.arguments}, **dict(zip(strings, values, strict=True))}
            url = rule.build(args, append_unknown=False)[1]
            status = client.get(url, headers=headers if url.startswith("/api/v1/") else {}).status_code
            if status >= 500:
                errors[url] = status
    assert not errors, errors
