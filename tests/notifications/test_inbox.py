"""The inbox page at /notifications."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.notifications.domain import notify, unread_count
from crm.notifications.models import Notification
from tests.conftest import csrf_token_from, login, make_user


def _setup():
    me, other = make_user("coordinator"), make_user("coordinator")
    notify([me], "refresh_opened", "旧消息", "正文第一行\n第二行")
    notify([me], "refresh_opened", "名单更新已开启", "请处理", "/enterprises/")
    notify([other], "refresh_opened", "别人的消息")
    db.session.commit()
    return me, other


def test_inbox_shows_only_ones_own_newest_first_with_unread_highlighted(client):
    me, _ = _setup()
    login(client, me)
    response = client.get("/notifications/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "名单更新已开启" in html and "旧消息" in html and "别人的消息" not in html
    assert html.index("名单更新已开启") < html.index("旧消息")
    assert "未读 2" in html and "list-group-item-primary" in html
    assert "正文第一行<br>第二行" in html
    assert "style=" not in html and "<script>" not in html


def test_mark_one_read_and_another_users_id_is_404(client):
    me, other = _setup()
    login(client, me)
    theirs = db.session.scalar(sa.select(Notification).where(Notification.user_id == other.id))
    assert client.post(f"/notifications/{theirs.id}/read").status_code == 404
    assert client.post(f"/notifications/{theirs.id}/open").status_code == 404
    assert client.post("/notifications/99999999999/read").status_code == 404
    db.session.refresh(theirs)
    assert theirs.read_at is None
    mine = db.session.scalar(sa.select(Notification).where(Notification.title == "旧消息"))
    response = client.post(f"/notifications/{mine.id}/read?page=1")
    assert response.status_code == 303 and response.headers["Location"].endswith("/notifications/")
    db.session.refresh(mine)
    assert mine.read_at is not None and unread_count(me) == 1
    assert "已读于" in client.get("/notifications/").get_data(as_text=True)


def test_open_marks_read_and_goes_to_the_target(client):
    me, _ = _setup()
    login(client, me)
    row = db.session.scalar(sa.select(Notification).where(Notification.title == "名单更新已开启"))
    response = client.post(f"/notifications/{row.id}/open")
    assert response.status_code == 303 and response.headers["Location"] == "/enterprises/"
    db.session.refresh(row)
    assert row.read_at is not None


def test_mark_all_read_only_touches_ones_own(client):
    me, other = _setup()
    login(client, me)
    response = client.post("/notifications/read-all", follow_redirects=True)
    assert "已将 2 条消息标记为已读" in response.get_data(as_text=True)
    assert unread_count(me) == 0 and unread_count(other) == 1


def test_pagination_and_unread_filter(client):
    me = make_user("leader")
    for i in range(25):
        notify([me], "refresh_opened", f"消息{i:02d}")
    db.session.commit()
    login(client, me)
    first = client.get("/notifications/").get_data(as_text=True)
    assert "消息24" in first and "消息05" in first and "消息04" not in first
    second = client.get("/notifications/?page=2").get_data(as_text=True)
    assert "消息04" in second and "消息00" in second and "消息05" not in second
    assert "第 2 / 2 页" in second
    client.post("/notifications/read-all")
    assert "没有未读消息" in client.get("/notifications/?unread=1").get_data(as_text=True)
    assert client.get("/notifications/?page=0").status_code == 400


def test_signed_out_users_go_to_login(client):
    response = client.get("/notifications/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/notifications/read-all").status_code == 302


def test_every_form_needs_its_csrf_token(app, client, monkeypatch):
    me, _ = _setup()
    login(client, me)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    row = db.session.scalar(sa.select(Notification).where(Notification.title == "旧消息"))
    assert client.post(f"/notifications/{row.id}/read").status_code == 400
    assert client.post("/notifications/read-all").status_code == 400
    assert unread_count(me) == 2
    token = csrf_token_from(client.get("/notifications/").get_data(as_text=True))
    assert client.post(f"/notifications/{row.id}/read", data={"csrf_token": token}).status_code == 303
    assert client.post("/notifications/read-all", data={"csrf_token": token}).status_code == 303
    assert unread_count(me) == 0


def test_the_badge_is_counted_once_per_request_however_many_templates_render(client):
    """The 一企一档 renders each capability's section with its own render_template (each runs the context
    processors); the unread count is read once per request, in the statement that finds the session (no statement
    of its own: crm.auth.domain.session_figure), and the next request counts afresh."""
    from tests.conftest import assign, make_enterprise

    me = make_user("commissioner", specialties=["tech"])
    enterprise = make_enterprise()
    assign(enterprise, me, "tech")
    notify([me], "refresh_opened", "一")
    db.session.commit()
    login(client, me)
    counted: list[str] = []

    def spy(_conn, _cursor, statement, *_args):
        if "FROM notifications" in statement and "count(" in statement.lower():
            counted.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", spy)
    try:
        page = client.get(f"/enterprises/{enterprise.id}")
        assert page.status_code == 200
        assert len(counted) == 1 and "FROM user_sessions" in counted[0]
        notify([me], "refresh_opened", "二")
        db.session.commit()
        again = client.get(f"/enterprises/{enterprise.id}")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", spy)
    assert len(counted) == 2
    assert '消息 <span class="badge rounded-pill text-bg-danger">2<' in again.get_data(as_text=True)  # not stale


def test_after_a_post_the_badge_is_counted_again_not_taken_from_the_session(app):
    """The count read with the session is what a GET shows; a POST may have changed the notifications before its
    page renders, so it counts them (crm.notifications.views._unread_this_request)."""
    from flask_login import login_user

    from crm.auth.domain import load_session_user, start_session
    from crm.notifications.views import inject_unread_count

    me, _ = _setup()
    assert unread_count(me) == 2
    for method, expected in (("GET", 2), ("HEAD", 2), ("POST", 1)):
        with app.test_request_context("/notifications/", method=method):
            user = load_session_user(start_session(me))
            assert user.session_figures["unread_notifications"] == 2
            login_user(user)
            mine = db.session.scalar(sa.select(Notification).where(Notification.user_id == me.id,
                                                                   Notification.read_at.is_(None)))
            mine.read_at = mine.created_at  # this request marks one read, then renders
            db.session.flush()
            assert inject_unread_count() == {"unread_notifications": expected}, method
            db.session.rollback()
