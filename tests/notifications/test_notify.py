"""Notification domain: notify, notify_role, unread counts, marking only one's own."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_login import login_user

from crm.auth.domain import set_active
from crm.core.errors import NotFound
from crm.extensions import db
from crm.notifications.domain import (
    get_own,
    inbox_statement,
    mark_all_read,
    mark_read,
    notify,
    notify_role,
    unread_count,
)
from crm.notifications.models import Notification
from crm.notifications.views import inject_unread_count
from tests.conftest import make_user


def test_notify_adds_one_row_per_user_and_does_not_commit():
    a, b = make_user("coordinator"), make_user("coordinator")
    rows = notify([a, b, a], "refresh_opened", "2026H2 名单更新已开启", "请在截止日期前完成", "/rosters")
    assert [r.user_id for r in rows] == [a.id, b.id]
    assert all(r in db.session.new for r in rows)
    db.session.flush()
    assert unread_count(a) == 1 and unread_count(b) == 1
    assert rows[0].kind == "refresh_opened" and rows[0].link == "/rosters" and rows[0].read_at is None


@pytest.mark.parametrize("link", ["https://evil.example/x", "//evil.example", "/\\evil", "javascript:alert(1)",
                                  "/a b"])
def test_links_must_stay_inside_the_app(link):
    with pytest.raises(ValueError):
        notify([make_user("leader")], "refresh_opened", "标题", link=link)


def test_bad_kind_or_title_is_a_programming_error_and_long_titles_are_shortened():
    user = make_user("leader")
    with pytest.raises(ValueError):
        notify([user], "", "标题")
    with pytest.raises(ValueError, match="NotificationKind"):
        notify([user], "no_such_kind", "标题")
    with pytest.raises(ValueError):
        notify([user], "refresh_opened", "  ")
    [row] = notify([user], "refresh_opened", "长" * 300)
    assert len(row.title) == 200 and row.title.endswith("…")


def test_notify_role_reaches_every_active_user_of_that_role():
    c1, c2, gone = make_user("coordinator"), make_user("coordinator"), make_user("coordinator")
    leader = make_user("leader")
    set_active(make_user("admin"), gone, False)
    db.session.flush()
    rows = notify_role("coordinator", "refresh_deadline", "距名单发布截止还有3个工作日")
    ids = {r.user_id for r in rows}
    assert {c1.id, c2.id} <= ids and gone.id not in ids and leader.id not in ids


def test_notify_role_within_a_county_includes_city_wide_users():
    from crm.reference.models import County

    huichuan = db.session.scalar(sa.select(County).where(County.name == "汇川区"))
    local, city, other = (make_user("coordinator", county="汇川区"), make_user("coordinator"),
                          make_user("coordinator", county="桐梓县"))
    ids = {r.user_id for r in notify_role("coordinator", "refresh_opened", "汇川区消息", county_id=huichuan.id)}
    assert {local.id, city.id} <= ids and other.id not in ids


def test_marking_read_is_per_user():
    me, other = make_user("commissioner"), make_user("commissioner")
    mine = notify([me], "refresh_opened", "我的1") + notify([me], "refresh_opened", "我的2")
    [theirs] = notify([other], "refresh_opened", "别人的")
    db.session.flush()
    assert unread_count(me) == 2
    with pytest.raises(NotFound):
        mark_read(me, theirs)
    with pytest.raises(NotFound):
        get_own(me, theirs.id)
    with pytest.raises(NotFound):
        get_own(me, 2**40)
    assert theirs.read_at is None
    mark_read(me, mine[0])
    first = mine[0].read_at
    assert first is not None and unread_count(me) == 1
    mark_read(me, mine[0])
    assert mine[0].read_at == first  # the first read time is kept
    assert mark_all_read(me) == 1
    assert unread_count(me) == 0 and unread_count(other) == 1
    db.session.refresh(theirs)
    assert theirs.read_at is None
    assert mark_all_read(me) == 0


def test_inbox_is_newest_first_and_only_ones_own():
    me, other = make_user("leader"), make_user("leader")
    for i in range(3):
        notify([me], "refresh_opened", f"第{i}条")
    notify([other], "refresh_opened", "别人的")
    db.session.flush()
    titles = [n.title for n in db.session.scalars(inbox_statement(me))]
    assert titles == ["第2条", "第1条", "第0条"]
    mark_read(me, get_own(me, db.session.scalar(sa.select(Notification.id).where(Notification.title == "第2条"))))
    assert [n.title for n in db.session.scalars(inbox_statement(me, unread_only=True))] == ["第1条", "第0条"]


def test_unread_count_for_the_navigation_badge(app):
    user = make_user("coordinator")
    notify([user], "refresh_opened", "一") + notify([user], "refresh_opened", "二")
    db.session.flush()
    with app.test_request_context("/"):
        assert inject_unread_count() == {"unread_notifications": 0}  # signed out
        login_user(user)
        assert inject_unread_count() == {"unread_notifications": 2}
