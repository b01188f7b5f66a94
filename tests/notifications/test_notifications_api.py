"""GET /api/v1/notifications (API.md) and marking read through the API."""

from __future__ import annotations

import re

import sqlalchemy as sa

from crm.extensions import db
from crm.notifications.domain import notify, unread_count
from crm.notifications.models import Notification
from tests.api.support import bearer, error_of
from tests.conftest import make_user

FIELDS = {"id", "kind", "title", "body", "link", "created_at", "read_at"}
OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")


def _setup():
    me, other = make_user("commissioner"), make_user("commissioner")
    for i in range(3):
        notify([me], "refresh_deadline", f"提醒{i}", "正文", "/enterprises/")
    notify([other], "refresh_deadline", "别人的提醒")
    db.session.commit()
    return me, other


def test_the_callers_own_newest_first(client):
    me, _ = _setup()
    response = client.get("/api/v1/notifications", headers=bearer(me))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"items", "total", "page", "per_page"}
    assert body["total"] == 3 and body["page"] == 1 and body["per_page"] == 50
    assert [item["title"] for item in body["items"]] == ["提醒2", "提醒1", "提醒0"]
    item = body["items"][0]
    assert set(item) == FIELDS
    assert OFFSET.match(item["created_at"]) and item["read_at"] is None
    assert "提醒" in response.get_data(as_text=True)  # Chinese unescaped


def test_pagination_and_unread_filter(client):
    me, _ = _setup()
    headers = bearer(me)
    body = client.get("/api/v1/notifications?per_page=2&page=2", headers=headers).get_json()
    assert body["total"] == 3 and [i["title"] for i in body["items"]] == ["提醒0"]
    error_of(client.get("/api/v1/notifications?per_page=500", headers=headers), 400)
    error_of(client.get("/api/v1/notifications?unread=maybe", headers=headers), 400)
    first = body["items"][0]["id"]
    assert client.post(f"/api/v1/notifications/{first}/read", headers=headers).status_code == 200
    body = client.get("/api/v1/notifications?unread=true", headers=headers).get_json()
    assert body["total"] == 2 and first not in [i["id"] for i in body["items"]]


def test_mark_read_own_only(client):
    me, other = _setup()
    headers = bearer(me)
    theirs = db.session.scalar(sa.select(Notification).where(Notification.user_id == other.id))
    error = error_of(client.post(f"/api/v1/notifications/{theirs.id}/read", headers=headers), 404)
    assert error["code"] == "not_found"
    error_of(client.post("/api/v1/notifications/99999999999/read", headers=headers), 404)
    db.session.refresh(theirs)
    assert theirs.read_at is None
    mine = db.session.scalar(sa.select(Notification).where(Notification.title == "提醒1"))
    response = client.post(f"/api/v1/notifications/{mine.id}/read", headers=headers)
    assert response.status_code == 200 and OFFSET.match(response.get_json()["read_at"])
    assert unread_count(me) == 2
    response = client.post("/api/v1/notifications/read-all", headers=headers)
    assert response.get_json() == {"marked": 2}
    assert unread_count(me) == 0 and unread_count(other) == 1


def test_the_posts_take_no_input(client):
    me, _ = _setup()
    headers = bearer(me)
    mine = db.session.scalar(sa.select(Notification.id).where(Notification.title == "提醒1"))
    assert client.post(f"/api/v1/notifications/{mine}/read", json={}, headers=headers).status_code == 200
    error_of(client.post("/api/v1/notifications/read-all", data="[1", headers=headers), 400)
    error_of(client.post("/api/v1/notifications/read-all", json={"all": True}, headers=headers), 422)
    assert unread_count(me) == 2


def test_no_token_is_401(client):
    _setup()
    error_of(client.get("/api/v1/notifications"), 401)
    error_of(client.post("/api/v1/notifications/1/read"), 401)


def test_documented_in_openapi(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "get" in doc["paths"]["/notifications"]
    assert "post" in doc["paths"]["/notifications/{notification_id}/read"]
    assert "Notification" in doc["components"]["schemas"]
