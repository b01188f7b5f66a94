"""The navigation's links built once per process (crm.web.fixed_url): each is what ``url_for`` builds, wherever
the app is mounted, and every page's navigation is the same as one built with ``url_for``."""

from __future__ import annotations

import re
from pathlib import Path

from flask import url_for

from crm.web import fixed_url
from tests.conftest import login, make_user

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
NAVIGATION = (TEMPLATES / "base.html", TEMPLATES / "_nav_links.html")


def test_each_fixed_url_is_url_for_under_every_mount_point(app):
    endpoints = sorted({found for path in NAVIGATION
                        for found in re.findall(r"fixed_url\('([a-z_.]+)'\)", path.read_text(encoding="utf-8"))})
    assert len(endpoints) > 20  # the navigation's links
    for root in ("", "/crm", "/zunyi/crm"):
        for _ in range(2):  # built, then kept
            with app.test_request_context("/", base_url=f"http://localhost{root}/"):
                for endpoint in endpoints:
                    assert fixed_url(endpoint) == url_for(endpoint), (root, endpoint)
                    assert fixed_url(endpoint).startswith(f"{root}/")
                css = fixed_url("static", filename="css/app.css")
                assert css == url_for("static", filename="css/app.css") == f"{root}/static/css/app.css"


def test_the_navigation_drawn_with_fixed_urls_is_the_one_url_for_draws(app, client):
    admin = make_user("admin")
    login(client, admin)
    html = client.get("/notifications/").get_data(as_text=True)
    with app.test_request_context("/"):
        for endpoint in ("enterprises.index", "rosters.index", "assignments.index", "service.workspace",
                         "dashboard.index", "auth.users", "notifications.index", "auth.logout"):
            assert f'href="{url_for(endpoint)}"' in html or f'action="{url_for(endpoint)}"' in html, endpoint
        assert url_for("static", filename="css/app.css") in html
