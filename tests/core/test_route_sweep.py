"""The per-route × per-role access sweep (issue 10, "How it is checked"), generated from ``app.url_map``: every
rule and every method it answers, as each role, its path filled with records the role may see and with records
it may not.

- signed out: a page redirects to the sign-in page, the API answers 401 — every method;
- out of scope: a record the role may not see (another county's enterprise and what hangs off it, another
  commissioner's request, another user's notification …) answers exactly as an id never used does — the same
  status (403 or 404, or a button's redirect with its refusal flashed; never 200, never 5xx) and the same words —
  and a write changes nothing;
- a list or page filtered on a record out of scope (``FILTER_IDS``: ``?enterprise_id=``, ``?commissioner=`` …)
  shows exactly what a filter on an id never used shows, and never the hidden record's name;
- in scope: a GET never answers 5xx, and never 404 for a record the role may see;
- leadership never succeeds on a write: every POST / PUT / PATCH / DELETE is refused (403) and changes nothing,
  except the user's own session, inbox, feed and tokens (``OWN_THINGS``).

Which records a role may see is asked of the registered access rules (``crm.core.access.can``), so the sweep
follows the rules rather than restating them. A route is covered when each of its path arguments has a value in
the data set (``sweep``); a new route with another argument, or a route left out without a reason in
``SKIPPED``, fails ``test_every_route_is_swept_or_listed``. The data set is the junk
sweep's (``tests/core/test_junk_params.py``: the visible records), plus a second county's enterprise with its
records, another commissioner and another user's notification (the hidden ones).
"""

from __future__ import annotations

import hashlib
import html as html_lib
import io
import re
from datetime import date

import openpyxl
import pytest
import sqlalchemy as sa

from crm.auth.models import User, UserSession
from crm.core.access import Action, can, registered_models
from crm.enterprises.domain import add_contact, link_partner, set_figure
from crm.enterprises.models import Enterprise, EnterpriseContact, EnterpriseFigure, EnterprisePartner
from crm.extensions import db
from crm.holidays.models import DayKind, SpecialDay
from crm.meetings.models import Meeting
from crm.notifications.domain import notify
from crm.notifications.models import Notification
from crm.reference.models import Department, Park, Partner, PlanTarget, Target
from crm.rosters.models import RosterImport
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
from crm.tasks import supervision
from crm.tasks.models import ProgressReport, RectificationItem, ReportAttachment, SupervisionVisit, Task
from tests.conftest import api_token, assign, login, make_enterprise, make_user
from tests.core.test_junk_params import ROLES, world  # noqa: F401  (world: the junk sweep's data set)
from tests.meetings.factories import make_meeting
from tests.tasks.factories import make_report, safeguard, unit

WRITES = ("POST", "PUT", "PATCH", "DELETE")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MISSING_ID = 999_999  # an id never used, within every integer column's range
HIDDEN_NAME = "遵义桐梓扫描隐藏有限公司"

# Path arguments naming a record with a registered access rule: filled, per role, with one the role may not see.
SCOPED = {
    "enterprise_id": Enterprise, "contact_id": EnterpriseContact, "figure_id": EnterpriseFigure,
    "link_id": EnterprisePartner, "request_id": ServiceRequest, "delivery_id": PolicyDelivery,
    "interaction_id": Interaction, "meeting_id": Meeting, "notification_id": Notification, "user_id": User,
    "partner_id": Partner, "park_id": Park, "department_id": Department, "target_id": Target,
    "plan_target_id": PlanTarget, "supervision_id": SupervisionVisit, "item_id": RectificationItem,
    "task_id": Task, "report_id": ProgressReport, "attachment_id": ReportAttachment,
}
# Records each user has their own of, without a registered rule: another user's is hidden from everyone.
OWNED = {"session_id": UserSession}
# Scoped when their model has a registered rule (then filled like SCOPED), else with the visible value only.
SCOPED_IF_RULED = {"import_id": RosterImport}
# The others are filled with the visible data set's values only: ``day_id`` (the holiday table is public),
# ``year``, ``kind``, ``period``, ``specialty``, ``fmt``, ``token`` (not records of a scope).

# Rules and methods the sweep does not request, with the reason. A rule not here and not fillable fails the test.
SKIPPED = {
    ("static", "GET"): "files from disk",
}
# Answer signed-out visitors without a sign-in: (endpoint, method) → why.
PUBLIC = {
    ("auth.login", "GET"): "the sign-in page",
    ("auth.login", "POST"): "signing in",
    ("web.healthz", "GET"): "the load balancer's health check",
    ("calendar.feed_ics", "GET"): "a private feed URL: its token is the credential",
    ("api.issue", "POST"): "a token is issued for a username and password",
    ("api.openapi_json", "GET"): "the API's description",
}
# Writes a leader may make: their own session, inbox, calendar feed, tokens and password. Not requested as a
# leader (some end the sweep's own session); tested with their features. Names not (yet) in the map do no harm.
OWN_THINGS = {
    "auth.login", "auth.logout", "auth.account_end_session", "auth.account_sign_out_all", "auth.account_password",
    "notifications.open_", "notifications.read", "notifications.read_all", "calendar.feed_create",
    "calendar.feed_revoke", "api.issue", "api.revoke", "api.revoke_all", "api.sign_out_all", "api.password",
    "api.issue_calendar_token", "api.revoke_calendar_token", "api.read_notification", "api.read_all_notifications",
}

SIGN_IN = "/login"

# Records named outside the path: in the query string of a page, or in the JSON body of a create (the valid rest
# of the body, so that a refusal is for the record or the role, not for the body). Filled like path arguments.
QUERY_IDS = {"service.request_new": ("enterprise_id",), "service.interaction_new": ("enterprise_id",),
             "policy.new": ("enterprise_id",)}
BODIES = {
    "api.create_request": {"enterprise_id": "enterprise_id", "category": "培育项目申报", "description": "扫描"},
    "api.create_interaction": {"enterprise_id": "enterprise_id", "date": "2026-03-02", "channel": "visit",
                               "specialty": "tech", "summary": "扫描"},
    "api.create_policy_delivery": {"enterprise_id": "enterprise_id", "kind": "用地", "promised": "扫描",
                                   "promised_date": "2026-03-31"},
}
ID_KEYS = ("enterprise_id",)  # the keys of BODIES naming a record: filled from the values
# GET pages and lists filtered by a record named in the query string (argument name → query parameter, and the
# fixed rest of the query): a filter on a record out of scope shows what a filter on an id never used shows.
FILTER_IDS = {
    "service.requests_index": ({"enterprise_id": "enterprise_id"}, ""),
    "service.requests_export": ({"enterprise_id": "enterprise_id"}, ""),
    "policy.index": ({"enterprise_id": "enterprise_id"}, ""),
    "service.request_new": ({"interaction_id": "interaction_id"}, ""),
    "api.list_requests": ({"enterprise_id": "enterprise_id"}, ""),
    "api.export_requests": ({"enterprise_id": "enterprise_id"}, ""),
    "api.list_policy_deliveries": ({"enterprise_id": "enterprise_id"}, ""),
    "api.list_interactions": ({"enterprise_id": "enterprise_id", "user_id": "commissioner"}, ""),
    "performance.records": ({"user_id": "commissioner"}, "measure=visits&from=2026-01-01&to=2026-12-31"),
}


# --- the data set ----------------------------------------------------------------------------------------------

@pytest.fixture
def sweep(world):  # noqa: F811
    """The junk sweep's records (every signed-in role may see them, bar the user pages and another's inbox), and
    a second set in 桐梓县 of another commissioner that the county coordinator of 汇川区 and the commissioner may
    not see. Returns the users, the visible path values and the hidden records' ids by argument name."""
    users, path_values = world
    visible = db.session.get(Enterprise, path_values["enterprise_id"])
    other = make_user("commissioner", specialties=["tech"])
    hidden = make_enterprise(HIDDEN_NAME, county="桐梓县")
    assign(hidden, other)
    shown, kept = _children(visible), _children(hidden)
    kept.update(
        request_id=ServiceRequest(enterprise=hidden, category=RequestCategory.PROJECT, description="隐藏诉求",
                                  owner=other, raised_on=date(2026, 3, 1), due_date=date(2026, 3, 15),
                                  status=RequestStatus.RAISED),
        delivery_id=PolicyDelivery(enterprise=hidden, kind=PolicyKind.LAND, promised="隐藏兑现", owner=other,
                                   promised_date=date(2026, 3, 31), status=DeliveryStatus.PROMISED),
        interaction_id=Interaction(enterprise=hidden, occurred_on=date(2026, 3, 2), channel=Channel.VISIT,
                                   specialty="tech", summary="隐藏走访", created_by_id=other.id),
        meeting_id=make_meeting(enterprises=[hidden], title="隐藏的供应链洽谈会"),
        user_id=other,
        notification_id=notify([other], "refresh_opened", "他人的通知")[0],
        session_id=UserSession(user_id=other.id, secret_hash=hashlib.sha256(b"sweep").hexdigest()),
    )
    hidden_visit = supervision.create_visit(users["admin"], {  # 桐梓县's, its item another unit's
        "visited_on": "2026-03-02", "county": "桐梓县", "subject": "隐藏的专项督导"}, today=date(2026, 3, 2))
    kept.update(supervision_id=hidden_visit, item_id=supervision.add_item(users["admin"], hidden_visit, {
        "description": "隐藏的整改事项", "department": "市工业和科学技术局", "due_workdays": 5}))
    hidden_report = make_report(safeguard(2), unit("桐梓县人民政府"), text="隐藏的进展")
    kept.update(report_id=hidden_report, attachment_id=hidden_report.attachments[0])
    day = SpecialDay(day=date(2031, 5, 1), kind=DayKind.HOLIDAY, name="劳动节")
    db.session.add_all([*kept.values(), day])
    db.session.commit()
    path_values.update(day_id=day.id, specialty="tech", **{name: record.id for name, record in shown.items()})
    path_values.update(own_values(users["commissioner"], path_values))
    path_values.setdefault("import_id", db.session.scalar(sa.select(sa.func.min(RosterImport.id))))
    return users, path_values, {name: record.id for name, record in kept.items()}


def _children(enterprise: Enterprise) -> dict[str, object]:
    contact = add_contact(None, enterprise, {"name": "张三", "post": "经理", "phone": "0851-28880000"})
    figure = set_figure(None, enterprise, 2025, {"output_value": "100", "chengyu_output_value": "10"})
    link = link_partner(None, enterprise, "重庆长安汽车股份有限公司", "座椅骨架")
    return {"enterprise_id": enterprise, "contact_id": contact, "figure_id": figure, "link_id": link}


def own_values(user: User, path_values: dict) -> dict:
    """The visible values, with the user's own notification and sign-in session (if any)."""
    own = {name: db.session.scalar(sa.select(sa.func.min(model.id)).where(model.user_id == user.id)) or MISSING_ID
           for name, model in (("notification_id", Notification), *OWNED.items())}
    return {**path_values, **own}


def scoped() -> dict[str, type]:
    return {**SCOPED, **{name: model for name, model in SCOPED_IF_RULED.items() if model in registered_models()}}


def hidden_from(user: User, path_values: dict, hidden_ids: dict) -> dict[str, int]:
    """For each scoped argument, a record of it that ``user`` may not see (the hidden set's, else the visible
    set's), as the registered rules judge; for an owned one, another user's; arguments with none are left out."""
    found = {name: hidden_ids[name] for name, model in OWNED.items()
             if db.session.get(model, hidden_ids[name]).user_id != user.id}
    for name, model in scoped().items():
        for ident in (hidden_ids.get(name), path_values.get(name)):
            if ident is not None and not can(user, Action.VIEW, db.session.get(model, ident)):
                found[name] = ident
                break
    return found


# --- requests and answers --------------------------------------------------------------------------------------

def routes(app) -> list[tuple[object, str]]:
    """Every (rule, method) of the URL map but HEAD and OPTIONS (answered by Flask itself)."""
    return sorted(((rule, method) for rule in app.url_map.iter_rules()
                   for method in rule.methods - {"HEAD", "OPTIONS"}), key=lambda pair: (pair[0].rule, pair[1]))


def swept(app) -> list[tuple[object, str]]:
    return [(rule, method) for rule, method in routes(app) if (rule.endpoint, method) not in SKIPPED]


def names_of(rule) -> set[str]:
    """The records a request to ``rule`` names: its path arguments, its query-string and body ids."""
    return set(rule.arguments) | set(QUERY_IDS.get(rule.endpoint, ())) | (
        set(ID_KEYS) & set(BODIES.get(rule.endpoint, {})))


def url_of(rule, values: dict) -> str:
    path = rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)[1]
    query = "&".join(f"{name}={values[name]}" for name in QUERY_IDS.get(rule.endpoint, ()))
    return f"{path}?{query}" if query else path


def is_api(rule) -> bool:
    return rule.rule.startswith("/api/")


def send(client, rule, method: str, values: dict, headers: dict):
    kwargs = {"headers": headers} if is_api(rule) else {}
    if method in WRITES:
        body = {key: values[value] if key in ID_KEYS else value
                for key, value in BODIES.get(rule.endpoint, {}).items()}
        kwargs["json" if is_api(rule) else "data"] = body
    return client.open(url_of(rule, values), method=method, **kwargs)


def answer(client, response, *idents: int) -> tuple:
    """What an answer tells: its status and the API's error, the error page's heading and message, or where it
    redirects and what it flashed (taken from the session: a button's refusal), the ids asked for masked so that
    a hidden and a missing id compare."""
    flashed: list = []
    if response.mimetype == "application/json":
        body = response.get_data(as_text=True)
    elif 300 <= response.status_code < 400:
        body = response.headers.get("Location", "")
        with client.session_transaction() as session:
            flashed = list(session.pop("_flashes", []))
    else:
        html = response.get_data(as_text=True)
        body = re.findall(r'<h1 class="display-5">(.*?)</h1>|<p class="lead">(.*?)</p>', html, re.S)
        # the error page's layout changed? then this comparison would compare nothing: say so
        assert response.status_code not in (403, 404) or len(body) == 2, "update answer() to the error page"
        body = html_lib.unescape(str(body))
    # the status code in an error page's heading is not an id: a record whose id happens to be 404 (the sequences
    # depend on what the earlier tests wrote) must not mask the heading of its own 404 page
    status = str(response.status_code)
    body = re.sub(rf"\b{status}\b", "\0status\0", body)
    for ident in idents:
        body = re.sub(rf"\b{ident}\b", "#", body)
        flashed = [(category, re.sub(rf"\b{ident}\b", "#", text)) for category, text in flashed]
    body = body.replace("\0status\0", status)
    return response.status_code, body, flashed


def refused(said: tuple) -> bool:
    """403 or 404, or a button's redirect that flashed a refusal."""
    status, _, flashed = said
    return status in (403, 404) or (status in (302, 303) and any(c == "danger" for c, _ in flashed))


def snapshot() -> tuple:
    """Every table's row count, the sum of its versions, the notifications read, the assignments and sessions
    ended and the tokens revoked: one statement."""
    columns = []
    for table in db.metadata.sorted_tables:
        columns.append(sa.select(sa.func.count()).select_from(table).scalar_subquery())
        for name, aggregate in (("version", sa.func.sum), ("read_at", sa.func.count), ("ended_on", sa.func.count),
                                ("ended_at", sa.func.count), ("revoked_at", sa.func.count)):
            if name in table.c:
                columns.append(sa.select(aggregate(table.c[name])).scalar_subquery())
    return tuple(db.session.execute(sa.select(*columns)).one())


def as_role(app, sweep, role: str):
    """A client signed in as ``role``, its API headers, the values it may see and those hidden from it."""
    users, path_values, hidden_ids = sweep
    user = users[role]
    client = app.test_client()
    login(client, user)
    with client.session_transaction() as session:
        session.pop("_flashes", None)  # the welcome: a flashed refusal is compared below
    headers = api_token(user)
    db.session.commit()
    visible = own_values(user, path_values)
    return client, headers, visible, hidden_from(user, visible, hidden_ids)


# --- the sweep -------------------------------------------------------------------------------------------------

def unfilled(app, path_values: dict) -> list[str]:
    return [f"{rule.rule} {method}: no value for {sorted(set(rule.arguments) - set(path_values))}"
            for rule, method in swept(app) if set(rule.arguments) - set(path_values)]


def test_every_route_is_swept_or_listed(app, sweep):
    """A new route is swept without editing this file, or fails here: an argument the sweep cannot fill, or a
    list entry naming a route that is gone."""
    _, path_values, _ = sweep
    missing = unfilled(app, path_values)
    assert not missing, f"give them a value in the fixture sweep, or list them in SKIPPED: {missing}"
    pairs = {(rule.endpoint, method) for rule, method in routes(app)}
    assert set(SKIPPED) <= pairs and set(PUBLIC) <= pairs
    assert len(swept(app)) + len(SKIPPED) == len(routes(app))


def test_a_route_the_sweep_cannot_fill_is_named(app, sweep):
    _, path_values, _ = sweep
    del path_values["delivery_id"]
    assert "/policy/<int:delivery_id> POST: no value for ['delivery_id']" in unfilled(app, path_values)


def test_signed_out_every_page_asks_to_sign_in_and_the_api_answers_401(app, client, sweep):
    _, path_values, _ = sweep
    wrong = {}
    for rule, method in swept(app):
        url = url_of(rule, path_values)
        response = send(client, rule, method, path_values, {})
        if (rule.endpoint, method) in PUBLIC:
            ok = response.status_code < 500
        elif is_api(rule):
            ok = response.status_code == 401
        else:
            ok = response.status_code == 302 and response.headers["Location"].split("?")[0].endswith(SIGN_IN)
        if not ok:
            wrong[f"{method} {url}"] = response.status_code
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())


@pytest.mark.parametrize("role", ROLES[:-1])
def test_a_record_out_of_scope_answers_like_one_never_made(app, sweep, role):
    """Hidden and missing read the same (403 or 404, same words), for reads and writes; a write changes nothing."""
    client, headers, visible, hidden = as_role(app, sweep, role)
    assert hidden  # every role has something it may not see: at least another user's notification
    before = snapshot()
    differ, allowed, checked = {}, {}, 0
    for rule, method in swept(app):
        names = names_of(rule) & set(hidden)
        # all of them hidden at once (a hidden firm's contact under the hidden firm), then each alone beside
        # visible ones (a hidden firm's contact under a visible firm's address)
        for chosen in [names, *([{name} for name in sorted(names)] if len(names) > 1 else [])] if names else []:
            idents = [hidden[name] for name in chosen]
            asked = {**visible, **{name: hidden[name] for name in chosen}}
            there = send(client, rule, method, asked, headers)
            said = answer(client, there, *idents)
            never = send(client, rule, method, {**visible, **dict.fromkeys(chosen, MISSING_ID)}, headers)
            unknown = answer(client, never, MISSING_ID)
            checked += 1
            key = f"{method} {url_of(rule, asked)}"
            if not refused(said):
                allowed[key] = there.status_code
            elif said != unknown:
                differ[key] = (said, unknown)
            if method in WRITES:
                assert snapshot() == before, f"{key} changed the database"
            assert HIDDEN_NAME not in there.get_data(as_text=True), key
    assert checked
    assert not allowed, f"a record {role} may not see was not refused: {allowed}"
    assert not differ, f"a record {role} may not see answered unlike a missing one: {differ}"


def page_of(response, *idents: int) -> tuple:
    """The whole answer, ids masked: a page's visible text (without the ids asked for), a list's JSON, a file's
    bytes."""
    if response.mimetype.startswith("text/html"):
        text = re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))
        text = re.sub(r"请求编号: ?[0-9a-f]+", "请求编号", text)  # each request's own id (crm/app.py)
        text = re.sub(r"消息 \d+ 条未读", "消息 条未读", text)  # the user's unread count, not a record's id
    elif response.mimetype == XLSX:
        book = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
        text = str([list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets])
    else:
        text = response.get_data(as_text=True)
    for ident in idents:
        text = re.sub(rf"\b{ident}\b", "#", text)
    return response.status_code, text


@pytest.mark.parametrize("role", ROLES[:-1])
def test_a_filter_on_a_record_out_of_scope_reads_like_one_never_made(app, sweep, role):
    client, headers, visible, hidden = as_role(app, sweep, role)
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    assert set(FILTER_IDS) <= set(rules)
    differ, checked = {}, 0
    for endpoint, (filters, rest) in FILTER_IDS.items():
        names = set(filters) & set(hidden)
        if "enterprise_id" not in hidden:
            names.discard("user_id")  # another commissioner's work is in a city-wide user's scope
        if not names:
            continue
        rule = rules[endpoint]
        answers = []
        for values, idents in (({**visible, **hidden}, [hidden[n] for n in names]),
                               ({**visible, **dict.fromkeys(names, MISSING_ID)}, [MISSING_ID])):
            query = "&".join([f"{param}={values[name]}" for name, param in filters.items()] + ([rest] if rest else []))
            response = client.get(f"{url_of(rule, values)}?{query}", headers=headers if is_api(rule) else {})
            assert response.status_code < 500
            assert HIDDEN_NAME.encode() not in response.get_data(), endpoint
            answers.append(page_of(response, *idents))
        checked += 1
        if answers[0] != answers[1]:
            differ[endpoint] = answers
    assert checked or role in ("admin", "city_coordinator", "leader")
    assert not differ, differ


@pytest.mark.parametrize("role", ROLES[:-1])
def test_in_scope_every_get_answers_without_a_5xx_or_a_404(app, sweep, role):
    client, headers, visible, hidden = as_role(app, sweep, role)
    wrong = {}
    for rule, method in swept(app):
        if method != "GET" or names_of(rule) & set(hidden):
            continue
        url = url_of(rule, visible)
        status = send(client, rule, method, visible, headers).status_code
        if status >= 500 or (status == 404 and set(rule.arguments) & set(SCOPED)):
            wrong[url] = status
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())


def test_leadership_never_succeeds_on_a_write(app, sweep):
    client, headers, visible, _ = as_role(app, sweep, "leader")
    before = snapshot()
    wrong = {}
    for rule, method in swept(app):
        if method not in WRITES or rule.endpoint in OWN_THINGS:
            continue
        url = url_of(rule, visible)
        response = send(client, rule, method, visible, headers)
        if response.status_code != 403:
            wrong[f"{method} {url}"] = response.status_code
        assert snapshot() == before, f"{method} {url} changed the database"
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())
