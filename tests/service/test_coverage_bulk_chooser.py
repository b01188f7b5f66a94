"""The coverage page's bulk form lists the same commissioners as the domain's assignable_commissioners, each with
its specialties (``data-specialties``, which the page's script filters by) and label; read as plain columns."""

from __future__ import annotations

import html as html_lib
import re

from crm.extensions import db
from crm.rosters.models import RosterKind
from crm.service.assignments import assignable_commissioners, who
from tests.conftest import login, make_enterprise, make_user
from tests.rosters.factories import published_edition


def bulk_options(html: str) -> dict[str, tuple[str, str]]:
    select = re.search(r'<select[^>]* data-bulk-commissioner[^>]*>(.*?)</select>', html, re.S)
    assert select, "the bulk form's commissioner choice"
    return {value: (codes, html_lib.unescape(label)) for codes, value, label in re.findall(
        r'<option (?:data-specialties="([^"]*)" )?(?:selected )?value="([^"]*)">([^<]*)</option>', select.group(1))}


def test_the_bulk_choice_lists_the_assignable_commissioners_with_their_specialties(client):
    published_edition(RosterKind.SUPPLIER_LIST, "2026H1", [make_enterprise(county="汇川区")])
    make_user("commissioner", username="bulk-two", county="汇川区", specialties=["finance", "tech"])
    make_user("commissioner", username="bulk-none", specialties=[])
    make_user("commissioner", username="bulk-tz", county="桐梓县", specialties=["legal"])
    for viewer in (make_user("coordinator"), make_user("coordinator", county="汇川区")):
        db.session.commit()
        client.delete_cookie("session")
        login(client, viewer)
        found = bulk_options(client.get("/assignments/").get_data(as_text=True))
        expected = {u.username: (" ".join(s.value for s in u.specialties),
                                 f"{who(u)} · {'/'.join(s.label for s in u.specialties) or '无专长'} · "
                                 f"{u.county.name if u.county else '全市'}")
                    for u in assignable_commissioners(viewer)}
        assert found.pop("") == ("", "自动建议(同区县优先、在办最少)")
        assert found == expected
        assert found["bulk-two"][0] == "tech finance"
        assert ("bulk-tz" in found) is (viewer.county_id is None)
