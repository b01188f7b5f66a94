"""一企一档's own reads after the fourth and fifth provincial-scale passes (benchmarks/README.md, "Fourth pass:
coverage and 一企一档", "Fifth pass: 一企一档"): the record with its park in one statement, the 变更记录 page with its
total in one, a commissioner's access asked once for may-see and may-change, the 名单记录 in one statement, the
会议活动 card in two whatever it lists; the same page, the same 404s."""

from __future__ import annotations

import re

from crm.core.audit import AuditAction, AuditEntity, AuditLog
from crm.enterprises import domain
from crm.extensions import db
from crm.meetings import domain as meetings
from crm.rosters import domain as rosters
from crm.rosters.models import RosterKind
from tests.conftest import assign, login, make_enterprise, make_park, make_user
from tests.meetings.factories import make_meeting, partner
from tests.rosters.factories import published_edition

PAGE_STATEMENTS = 13  # a commissioner's full record, signed in (session and unread count included); 20, then 16 before
PARTNERS = ("重庆长安汽车股份有限公司", "长城汽车股份有限公司重庆分公司", "赛力斯集团股份有限公司")


def _history(enterprise, n: int, admin) -> None:
    for i in range(n):
        db.session.add(AuditLog(actor_id=admin.id, actor_name="admin", entity_type=AuditEntity.ENTERPRISE,
                                entity_id=enterprise.id, enterprise_id=enterprise.id, action=AuditAction.UPDATE,
                                summary=f"第{i}次修改", changes={"main_products": [f"旧{i}", f"新{i}"]}))
    db.session.flush()


def test_the_record_and_its_park_are_one_statement_and_the_history_page_one_more(client, count_queries):
    park = make_park("遵义测试园区一企一档")
    firm = make_enterprise("遵义园区一企一档测试有限公司", county="汇川区", park=park.name)
    admin = make_user("admin")
    _history(firm, 45, admin)
    db.session.commit()
    login(client, make_user("coordinator"))
    path = f"/enterprises/{firm.id}"
    client.get(path)
    db.session.expire_all()  # (reading firm.id now would load it again: the path is made before)
    with count_queries() as queries:
        html = client.get(path).get_data(as_text=True)
    assert "遵义测试园区一企一档" in html
    reads = [" ".join(s.split()) for s in queries.statements]
    assert not any(s.startswith("SELECT parks.") for s in reads)  # joined to the record
    assert sum(1 for s in reads if "FROM audit_log" in s) == 1  # the page and its total together
    assert sum(1 for s in reads if s.startswith("SELECT enterprises.id, enterprises.name,")) == 1  # loaded once


def test_the_history_pages_and_clamps_as_before(client):
    firm = make_enterprise(county="汇川区")
    admin = make_user("admin")
    _history(firm, 45, admin)
    db.session.commit()
    login(client, make_user("coordinator"))

    def card(path: str) -> tuple[list[str], str]:
        html = client.get(path).get_data(as_text=True)
        nav = re.search(r"data-history-pages>(.*?)</nav>", html, re.S)
        return re.findall(r"第(\d+)次修改", html), nav.group(1) if nav else ""

    rows, nav = card(f"/enterprises/{firm.id}")
    assert rows[:2] == ["44", "43"] and len(rows) == 20 and "第 1 / 3 页,共" in nav
    assert "data-older-history" in nav
    rows, nav = card(f"/enterprises/{firm.id}?history_page=3")
    assert "第 3 / 3 页" in nav and rows[-1] == "0"
    assert card(f"/enterprises/{firm.id}?history_page=50") == (rows, nav)  # past the end: the last page
    empty = make_enterprise(county="汇川区")
    db.session.commit()
    rows, nav = card(f"/enterprises/{empty.id}?history_page=4")
    assert nav == ""  # one page: no pager


def test_out_of_scope_and_unknown_records_are_404_as_before(client):
    firm = make_enterprise(county="汇川区")
    other = make_enterprise(county="桐梓县")
    tech = make_user("commissioner", specialties=["tech"])
    assign(firm, tech)
    db.session.commit()
    login(client, tech)
    assert client.get(f"/enterprises/{firm.id}").status_code == 200
    for path in (f"/enterprises/{other.id}", "/enterprises/0", "/enterprises/99999999", "/enterprises/4294967296"):
        assert client.get(path).status_code == 404, path


def _full_record(agreements: int, *, lists: bool = True):
    """An enterprise with something on every card, a commissioner assigned to it, ``agreements`` signed at a
    held meeting it took part in, and (``lists``) an entry in a published edition and a removal in a draft one
    (hidden from commissioners)."""
    firm = make_enterprise(county="汇川区")
    tech = make_user("commissioner", specialties=["tech"])
    assign(firm, tech)
    domain.add_contact(None, firm, {"name": "王经理", "post": "总经理", "phone": "0851 2800 0002"})
    domain.set_figure(None, firm, 2025, {"output_value": "1200", "chengyu_output_value": "300"})
    domain.link_partner(None, firm, PARTNERS[0], "线束")
    meeting = make_meeting(starts="2025-07-01 09:00", status="held", enterprises=[firm], title="遵义成渝产销对接会")
    for n in range(agreements):
        meetings.add_agreement(None, meeting, {"enterprise_id": firm.id, "partner_id": partner(PARTNERS[n]).id,
                                                "kind": "采购", "amount": str(100 + n)})
    if lists:
        published_edition(RosterKind.SUPPLIER_LIST, "2025H2", [firm])
        draft = rosters.open_edition(None, RosterKind.SUPPLIER_LIST, "2026H1")
        rosters.remove_entry(None, draft, firm, "草稿中的移出理由")
    db.session.commit()
    return firm, tech


def _page_statements(client, count_queries, firm, user) -> tuple[list[str], str]:
    """The statements of the record's page (after a first request), and its HTML."""
    login(client, user)
    path = f"/enterprises/{firm.id}"
    client.get(path)
    db.session.expire_all()
    with count_queries() as queries:
        html = client.get(path).get_data(as_text=True)
    return [" ".join(s.split()) for s in queries.statements], html


def test_a_commissioners_record_reads_a_fixed_number_of_statements_whatever_its_agreements(app, count_queries):
    firm, tech = _full_record(agreements=1)
    reads, html = _page_statements(app.test_client(), count_queries, firm, tech)
    assert len(reads) <= PAGE_STATEMENTS, "\n".join(reads)
    assert sum(1 for s in reads if s.startswith("SELECT EXISTS (SELECT * FROM assignments")) == 1  # VIEW and EDIT
    assert sum(1 for s in reads if "roster_entries" in s or "roster_removals" in s) == 1  # 名单记录: one UNION ALL
    assert not any(s.startswith("SELECT roster_editions.id") for s in reads)  # no hidden ids, no editions apart
    assert f'/enterprises/{firm.id}/edit"' in html and f'action="/enterprises/{firm.id}/contacts"' in html  # may change
    more, other_tech = _full_record(agreements=3, lists=False)
    more_reads, more_html = _page_statements(app.test_client(), count_queries, more, other_tech)
    assert len(more_reads) == len(reads)  # an agreement's partner and meeting come with it
    card = more_html[more_html.index('id="meetings"'):]
    card = card[:card.index("</section>")]
    assert [name for name in PARTNERS if name in card] == list(PARTNERS)
    assert card.count("(<a href=") == 3 and card.count("遵义成渝产销对接会") == 4  # the meeting, and per agreement


def test_the_list_card_hides_draft_editions_from_commissioners_as_before(app):
    firm, tech = _full_record(agreements=0)
    client = app.test_client()
    login(client, tech)
    html = client.get(f"/enterprises/{firm.id}").get_data(as_text=True)
    card = html[html.index('id="rosters"'):]
    card = card[:card.index("</section>")]
    assert "2025年下半年" in card or "2025H2" in card
    assert "草稿中的移出理由" not in card and "移出" not in card.replace("移出</span>", "")
    client = app.test_client()
    login(client, make_user("coordinator"))
    html = client.get(f"/enterprises/{firm.id}").get_data(as_text=True)
    card = html[html.index('id="rosters"'):]
    card = card[:card.index("</section>")]
    assert "草稿中的移出理由" in card and card.index("入库测试") < card.index("草稿中的移出理由")  # period order


def test_a_commissioner_not_assigned_gets_404_and_a_leader_no_forms(app):
    firm, _tech = _full_record(agreements=0)
    stranger = make_user("commissioner", specialties=["tech"])
    leader = make_user("leader")
    db.session.commit()
    client = app.test_client()
    login(client, stranger)
    assert client.get(f"/enterprises/{firm.id}").status_code == 404
    client = app.test_client()
    login(client, leader)
    html = client.get(f"/enterprises/{firm.id}").get_data(as_text=True)
    assert "王经理" in html and f"/enterprises/{firm.id}/edit" not in html and f"/{firm.id}/contacts" not in html
