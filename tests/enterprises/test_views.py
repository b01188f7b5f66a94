"""Enterprise pages (一企一档): list, search, detail, create, edit and the detail page's small forms.

Test data is committed (``db.session.commit()``, or by signing in) before requests: a view that refuses a
change rolls the session back, and that must not take the test's own setup with it. The conftest's outer
transaction still rolls everything back at the end of each test.
"""

from __future__ import annotations

import html as html_lib
import re

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.enterprises import domain
from crm.enterprises.models import Enterprise, EnterpriseContact, EnterpriseFigure, EnterprisePartner
from crm.extensions import db
from tests.conftest import assign, csrf_token_from, login, make_enterprise, make_park, make_uscc, make_user

PARTNER = "重庆长安汽车股份有限公司"


# --- helpers ---------------------------------------------------------------------------------------------

def page_text(response) -> str:
    """The visible text of a page: tags dropped, entities decoded, whitespace collapsed."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html_lib.unescape(body))


def names_listed(response) -> list[str]:
    """The enterprise names linked from the list page, in order."""
    return re.findall(r'<a href="/enterprises/\d+">([^<]+)</a>', response.get_data(as_text=True))


def enterprise_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Enterprise))


def audit_count(enterprise_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.enterprise_id == enterprise_id))


def form_data(**overrides):
    data = {"name": "遵义新测试机械有限公司", "uscc": make_uscc(), "county": "汇川区", "park": "",
            "cluster": "装备制造", "supply_category": "关键零部件", "above_scale": "y", "main_products": "齿轮",
            "status": "active", "settled_on": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def field_block(html: str, field_id: str) -> str:
    """The markup of one form field: its wrapper (label, input, errors) up to the next field's."""
    anchor = html.index(f'id="{field_id}"')
    start = html.rfind('<div class="mb-3">', 0, anchor)
    end = html.find('<div class="mb-3">', anchor)
    return html[start:end if end != -1 else None]


@pytest.fixture
def coordinator(client):
    user = make_user("coordinator")
    login(client, user)
    return user


# --- list: scope ---------------------------------------------------------------------------------------------

def test_commissioner_lists_only_assigned_enterprises(client):
    mine = make_enterprise("遵义专员甲机械有限公司")
    other = make_enterprise("遵义专员乙机械有限公司")
    commissioner = make_user("commissioner", specialties=["tech"])
    assign(mine, commissioner)
    login(client, commissioner)
    listed = names_listed(client.get("/enterprises/"))
    assert mine.name in listed
    assert other.name not in listed


def test_county_coordinator_lists_only_their_county(client):
    local = make_enterprise("汇川本地制造有限公司", county="汇川区")
    elsewhere = make_enterprise("桐梓外地制造有限公司", county="桐梓县")
    login(client, make_user("coordinator", county="汇川区"))
    listed = names_listed(client.get("/enterprises/"))
    assert local.name in listed and elsewhere.name not in listed
    # Even asking for the other county by filter shows nothing of it.
    assert elsewhere.name not in names_listed(client.get("/enterprises/?county=桐梓县"))


def test_create_button_only_for_those_who_may_create(client):
    make_enterprise()
    for role, shown in (("coordinator", True), ("admin", True), ("leader", False), ("commissioner", False)):
        login(client, make_user(role, specialties=["tech"] if role == "commissioner" else None))
        assert ("新建企业" in page_text(client.get("/enterprises/"))) is shown, role
        client.post("/logout")


# --- list: search, filters, sorting, pagination --------------------------------------------------------------

@pytest.fixture
def catalogue(coordinator):
    shengshi = make_enterprise("遵义盛世恒达汽车零部件有限公司", county="汇川区", cluster="汽车及电池材料",
                               supply_category="关键零部件", above_scale=True)
    lvye = make_enterprise("桐梓县黔北铝业有限公司", county="桐梓县", cluster="基础材料",
                           supply_category="关键材料", above_scale=False)
    hangyu = make_enterprise("贵州航宇精密机械有限公司", county="红花岗区", cluster="航空航天装备",
                             supply_category="关键设备", above_scale=True)
    db.session.commit()
    return shengshi, lvye, hangyu


def test_search_by_name_fragment_initials_full_pinyin_and_uscc(client, catalogue):
    shengshi, lvye, hangyu = catalogue
    assert names_listed(client.get("/enterprises/?q=盛世恒达")) == [shengshi.name]
    assert names_listed(client.get("/enterprises/?q=sshdq")) == [shengshi.name]
    assert names_listed(client.get("/enterprises/?q=SSHDQ")) == [shengshi.name]
    assert names_listed(client.get("/enterprises/?q=qianbeilvye")) == [lvye.name]
    fragment = hangyu.uscc[-6:].lower()  # the distinctive tail; case does not matter
    assert names_listed(client.get(f"/enterprises/?q={fragment}")) == [hangyu.name]


def test_search_keeps_its_values_and_says_when_nothing_matches(client, catalogue):
    response = client.get("/enterprises/?q=不存在的企业&county=汇川区&above_scale=0")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "没有符合条件的企业" in text
    assert 'value="不存在的企业"' in text
    assert '<option selected value="汇川区">' in text
    assert '<option selected value="0">' in text


def ours(client, query: str, catalogue) -> list[str]:
    """The catalogue's names on a list page, in order (rows other test modules left behind are ignored)."""
    names = {e.name for e in catalogue}
    return [n for n in names_listed(client.get(f"/enterprises/?per_page=200&{query}")) if n in names]


def test_filters(client, catalogue):
    shengshi, lvye, hangyu = catalogue
    assert ours(client, "county=桐梓县", catalogue) == [lvye.name]
    assert ours(client, "cluster=航空航天装备", catalogue) == [hangyu.name]
    assert ours(client, "supply_category=关键零部件", catalogue) == [shengshi.name]
    assert set(ours(client, "above_scale=1", catalogue)) == {shengshi.name, hangyu.name}
    assert ours(client, "above_scale=0", catalogue) == [lvye.name]
    assert ours(client, "above_scale=1&county=红花岗区&cluster=航空航天装备", catalogue) == [hangyu.name]


def test_sorting(client, catalogue):
    shengshi, lvye, hangyu = catalogue
    # By pinyin: guizhou… < tongzi… < zunyi…; by county order: 红花岗区, 汇川区, 桐梓县.
    assert ours(client, "sort=name", catalogue) == [hangyu.name, lvye.name, shengshi.name]
    assert ours(client, "sort=county", catalogue) == [hangyu.name, shengshi.name, lvye.name]
    domain.update_enterprise(None, lvye, {"main_products": "铝锭"})
    db.session.commit()
    assert ours(client, "sort=-updated", catalogue)[0] == lvye.name


def test_pagination(client, coordinator):
    for i in range(5):
        make_enterprise(f"遵义档案翻页样例{i}号有限公司")
    db.session.commit()
    first = client.get("/enterprises/?q=档案翻页样例&per_page=2")
    assert names_listed(first) == ["遵义档案翻页样例0号有限公司", "遵义档案翻页样例1号有限公司"]
    assert "第 1 / 3 页,共 5 条" in page_text(first)
    assert "page=2" in first.get_data(as_text=True) and "per_page=2" in first.get_data(as_text=True)
    last = client.get("/enterprises/?q=档案翻页样例&per_page=2&page=3")
    assert names_listed(last) == ["遵义档案翻页样例4号有限公司"]
    beyond = client.get("/enterprises/?q=档案翻页样例&per_page=2&page=9")
    assert beyond.status_code == 200 and "第 9 页没有记录" in page_text(beyond)


def test_roster_filter(client, catalogue):
    # No list has a published edition in this test: nobody is on it.
    assert ours(client, "roster=supplier_list", catalogue) == []
    response = client.get("/enterprises/?roster=nonsense&q=盛世恒达")
    assert response.status_code == 400
    assert "未知名单:nonsense" in page_text(response)
    assert names_listed(response) == [catalogue[0].name]  # the other filters still apply


@pytest.mark.parametrize("query, message", [
    ("page=abc", "页码必须是1到1000000之间的整数"),
    ("page=0", "页码必须是1到1000000之间的整数"),
    ("per_page=100000", "每页条数必须在1到200之间"),
    ("per_page=-1", "每页条数必须在1到200之间"),
])
def test_bad_page_arguments_give_a_clear_message(client, coordinator, query, message):
    make_enterprise("遵义档案页码参数样例有限公司")
    db.session.commit()
    response = client.get(f"/enterprises/?q=页码参数样例&{query}")
    assert response.status_code == 400
    text = page_text(response)
    assert message in text
    assert "遵义档案页码参数样例有限公司" in text  # the first page is still shown


# --- detail and access ---------------------------------------------------------------------------------------

def test_detail_shows_the_whole_record(client, coordinator):
    make_park("遵义国家高新技术产业开发区", "汇川区")
    ent = make_enterprise("遵义档案详情测试有限公司", main_products="变速箱壳体", settled_from_chengyu=True,
                          settled_on="2025-03-18", park="遵义国家高新技术产业开发区")
    ent.is_demo = True
    domain.add_contact(None, ent, {"name": "王经理", "post": "总经理", "phone": "0851-28888888"})
    domain.set_figure(None, ent, 2024, {"output_value": "12000", "chengyu_output_value": "3000.5"})
    domain.set_figure(None, ent, 2025, {"output_value": "15000.25", "chengyu_output_value": "4000"})
    domain.link_partner(None, ent, PARTNER, "铝合金壳体")
    db.session.commit()
    response = client.get(f"/enterprises/{ent.id}")
    assert response.status_code == 200
    text = page_text(response)
    for expected in (ent.uscc, "汇川区", "遵义国家高新技术产业开发区", "装备制造", "关键零部件", "变速箱壳体",
                     "2025-03-18", "正常经营", "演示数据", "王经理", "总经理", "0851-28888888",
                     "12,000.00", "3,000.50", "15,000.25", PARTNER, "铝合金壳体", "新建企业档案"):
        assert expected in text, expected
    assert text.index("2025") < text.index("2024")  # newest year first
    assert text.index("15,000.25") < text.index("12,000.00")


def test_detail_is_404_for_records_out_of_scope(client):
    assigned = make_enterprise(county="汇川区")
    unassigned = make_enterprise(county="汇川区")
    elsewhere = make_enterprise(county="桐梓县")
    commissioner = make_user("commissioner", specialties=["tech"])
    assign(assigned, commissioner)
    login(client, commissioner)
    assert client.get(f"/enterprises/{assigned.id}").status_code == 200
    assert client.get(f"/enterprises/{unassigned.id}").status_code == 404
    assert client.get(f"/enterprises/{unassigned.id}/edit").status_code == 404
    client.post("/logout")
    login(client, make_user("coordinator", county="汇川区"))
    assert client.get(f"/enterprises/{assigned.id}").status_code == 200
    response = client.get(f"/enterprises/{elsewhere.id}")
    assert response.status_code == 404
    assert elsewhere.name not in response.get_data(as_text=True)
    assert client.get("/enterprises/999999").status_code == 404


def test_commissioner_edits_an_assigned_enterprise(client):
    ent = make_enterprise()
    commissioner = make_user("commissioner", specialties=["tech"])
    assign(ent, commissioner)
    login(client, commissioner)
    assert "编辑档案" in page_text(client.get(f"/enterprises/{ent.id}"))
    assert client.get(f"/enterprises/{ent.id}/edit").status_code == 200
    assert client.get("/enterprises/new").status_code == 403
    response = client.post(f"/enterprises/{ent.id}/contacts", data={"contact-name": "李专员联系人"})
    assert response.status_code == 302
    assert [c.name for c in ent.contacts] == ["李专员联系人"]


def test_leader_reads_everything_and_changes_nothing(client):
    ent = make_enterprise(main_products="原产品")
    contact = domain.add_contact(None, ent, {"name": "赵会计"})
    figure = domain.set_figure(None, ent, 2025, {"output_value": "100"})
    link = domain.link_partner(None, ent, PARTNER, "线束")
    leader = make_user("leader")
    login(client, leader)  # commits the setup
    before, enterprises = audit_count(ent.id), enterprise_count()
    detail = client.get(f"/enterprises/{ent.id}")
    assert detail.status_code == 200
    html = detail.get_data(as_text=True)
    assert "编辑档案" not in html and "data-confirm" not in html and 'method="post" action="/enterprises' not in html
    assert client.get(f"/enterprises/{ent.id}/edit").status_code == 403
    assert client.get("/enterprises/new").status_code == 403
    posts = {
        "/enterprises/new": form_data(),
        f"/enterprises/{ent.id}/edit": form_data(name="领导改名", uscc=ent.uscc, version=str(ent.version)),
        f"/enterprises/{ent.id}/contacts": {"contact-name": "新联系人"},
        f"/enterprises/{ent.id}/contacts/{contact.id}/delete": {},
        f"/enterprises/{ent.id}/figures": {"figure-year": "2026", "figure-output_value": "1"},
        f"/enterprises/{ent.id}/figures/{figure.id}/delete": {},
        f"/enterprises/{ent.id}/partners": {"partner-partner": "赛力斯集团股份有限公司", "partner-supplies": "x"},
        f"/enterprises/{ent.id}/partners/{link.id}/delete": {},
    }
    for url, data in posts.items():
        response = client.post(url, data=data)
        assert response.status_code == 403, url
        assert "您没有权限" in page_text(response)
    db.session.expire_all()
    assert audit_count(ent.id) == before
    assert ent.name != "领导改名" and ent.main_products == "原产品"
    assert len(ent.contacts) == 1 and len(ent.figures) == 1 and len(ent.partner_links) == 1
    assert enterprise_count() == enterprises


# --- create --------------------------------------------------------------------------------------------------

def test_create_form_and_success(client, coordinator):
    make_park("遵义国家高新技术产业开发区", "汇川区")
    form = client.get("/enterprises/new")
    assert form.status_code == 200
    text = form.get_data(as_text=True)
    for label in ("企业名称", "统一社会信用代码", "区县", "产业集群", "配套类别", "所在园区", "经营状态",
                  "规模以上企业", "成渝地区招商落户企业", "落户日期"):
        assert label in text
    response = client.post("/enterprises/new", data=form_data(
        name="遵义新建成功测试有限公司", park="遵义国家高新技术产业开发区", settled_from_chengyu="y",
        settled_on="2025-06-30"))
    assert response.status_code == 302
    ent = db.session.scalar(sa.select(Enterprise).where(Enterprise.name == "遵义新建成功测试有限公司"))
    assert response.headers["Location"].endswith(f"/enterprises/{ent.id}")
    assert ent.above_scale and ent.settled_from_chengyu and ent.park.name == "遵义国家高新技术产业开发区"
    detail = client.get(response.headers["Location"])
    assert "已新建企业档案" in page_text(detail)
    rows = db.session.scalars(sa.select(AuditLog).where(AuditLog.enterprise_id == ent.id)).all()
    assert [(r.action, r.actor_id) for r in rows] == [("create", coordinator.id)]


def test_create_with_bad_check_digit_shows_it_next_to_the_field_and_writes_nothing(client, coordinator):
    good = make_uscc()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    count = enterprise_count()
    audits = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    response = client.post("/enterprises/new", data=form_data(uscc=bad))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    block = field_block(html, "uscc")
    assert "is-invalid" in block
    assert '<div class="invalid-feedback">统一社会信用代码校验位不正确,请核对最后一位</div>' in block
    assert f'value="{bad}"' in html  # what the user typed is kept
    assert enterprise_count() == count
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == audits


def test_create_refuses_missing_fields_and_missing_settle_date(client, coordinator):
    count = enterprise_count()
    response = client.post("/enterprises/new", data=form_data(name="", county="", uscc=""))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请填写企业名称" in field_block(html, "name")
    assert "请选择区县" in field_block(html, "county")
    assert "请填写统一社会信用代码" in field_block(html, "uscc")
    response = client.post("/enterprises/new", data=form_data(settled_from_chengyu="y", settled_on=""))
    assert response.status_code == 422
    assert "请填写落户日期" in field_block(response.get_data(as_text=True), "settled_on")
    assert enterprise_count() == count


def test_create_refuses_duplicate_uscc_and_name(client, coordinator):
    existing = make_enterprise("遵义重复检测(贵州)有限公司")
    db.session.commit()
    count = enterprise_count()
    same_code = client.post("/enterprises/new", data=form_data(name="另一家公司", uscc=existing.uscc))
    assert same_code.status_code == 409
    message = "该统一社会信用代码已被“遵义重复检测(贵州)有限公司”使用"
    assert message in field_block(same_code.get_data(as_text=True), "uscc")
    # Half-width brackets and extra spaces do not make a different name.
    same_name = client.post("/enterprises/new", data=form_data(name="遵义重复检测 (贵州) 有限公司"))
    assert same_name.status_code == 409
    assert "已有同名企业" in field_block(same_name.get_data(as_text=True), "name")
    assert enterprise_count() == count


def test_county_coordinator_creates_only_in_their_county(client):
    login(client, make_user("coordinator", county="汇川区"))
    count = enterprise_count()
    html = client.get("/enterprises/new").get_data(as_text=True)
    assert 'value="汇川区"' in html and 'value="桐梓县"' not in html
    response = client.post("/enterprises/new", data=form_data(county="桐梓县"))
    assert response.status_code == 422
    assert "不是有效的选择" in field_block(response.get_data(as_text=True), "county")
    assert enterprise_count() == count


# --- edit ----------------------------------------------------------------------------------------------------

def test_edit_records_history_shown_on_the_detail_page(client, coordinator):
    ent = make_enterprise("遵义编辑测试有限公司", main_products="变压器")
    db.session.commit()
    form = client.get(f"/enterprises/{ent.id}/edit")
    html = form.get_data(as_text=True)
    assert form.status_code == 200
    assert f'name="version" type="hidden" value="{ent.version}"' in html
    assert 'value="遵义编辑测试有限公司"' in html and "变压器" in html
    response = client.post(f"/enterprises/{ent.id}/edit", data=form_data(
        name=ent.name, uscc=ent.uscc, main_products="有载分接开关", county="播州区", status="suspended",
        version=str(ent.version)))
    assert response.status_code == 302
    db.session.expire_all()
    assert ent.main_products == "有载分接开关" and ent.county.name == "播州区" and ent.version == 2
    text = page_text(client.get(f"/enterprises/{ent.id}"))
    assert "企业档案已保存" in text
    assert "修改企业档案" in text and coordinator.display_name in text
    assert "主要产品: 变压器 → 有载分接开关" in text
    assert "区县: 汇川区 → 播州区" in text
    assert "经营状态: 正常经营 → 停产" in text


def test_edit_with_a_stale_version_is_refused(client, coordinator):
    ent = make_enterprise(main_products="旧产品")
    db.session.commit()
    old_version = ent.version
    domain.update_enterprise(None, ent, {"main_products": "别人改的"})  # someone else saves first
    db.session.commit()
    response = client.post(f"/enterprises/{ent.id}/edit", data=form_data(
        name=ent.name, uscc=ent.uscc, main_products="我的修改", version=str(old_version)))
    assert response.status_code == 409
    text = page_text(response)
    assert "已被他人修改" in text and "重新打开编辑页" in text
    db.session.expire_all()
    assert ent.main_products == "别人改的"
    assert audit_count(ent.id) == 2  # create + the other user's update, nothing of ours


def test_edit_validation_errors_keep_the_record(client, coordinator):
    ent = make_enterprise()
    other = make_enterprise("遵义已占用名称有限公司")
    db.session.commit()
    response = client.post(f"/enterprises/{ent.id}/edit", data=form_data(
        name=other.name, uscc=ent.uscc, version=str(ent.version)))
    assert response.status_code == 409
    assert "已有同名企业" in field_block(response.get_data(as_text=True), "name")
    db.session.expire_all()
    assert ent.name != other.name and ent.version == 1


# --- the detail page's small forms ---------------------------------------------------------------------------

def test_contacts_add_and_delete_appear_in_history(client, coordinator):
    ent = make_enterprise()
    db.session.commit()
    response = client.post(f"/enterprises/{ent.id}/contacts", data={
        "contact-name": "张联络", "contact-post": "办公室主任", "contact-phone": "13800000000"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/enterprises/{ent.id}#contacts")
    contact = db.session.scalar(sa.select(EnterpriseContact).where(EnterpriseContact.enterprise_id == ent.id))
    assert (contact.name, contact.post, contact.phone) == ("张联络", "办公室主任", "13800000000")
    html = client.get(f"/enterprises/{ent.id}").get_data(as_text=True)
    assert "已添加联系人 张联络" in html and "添加联系人 张联络" in html
    assert 'data-confirm="确定删除联系人“张联络”吗?"' in html
    response = client.post(f"/enterprises/{ent.id}/contacts/{contact.id}/delete")
    assert response.status_code == 302
    assert db.session.get(EnterpriseContact, contact.id) is None
    text = page_text(client.get(f"/enterprises/{ent.id}"))
    assert "删除联系人 张联络" in text and "姓名: 张联络 → (空)" in text


def test_contact_errors_are_flashed_and_nothing_saved(client, coordinator):
    ent = make_enterprise()
    db.session.commit()
    before = audit_count(ent.id)
    response = client.post(f"/enterprises/{ent.id}/contacts", data={"contact-name": ""}, follow_redirects=True)
    assert response.status_code == 200 and "请填写联系人姓名" in page_text(response)
    response = client.post(f"/enterprises/{ent.id}/contacts", data={"contact-name": "钱", "contact-phone": "abc"},
                           follow_redirects=True)
    assert "电话号码格式不正确" in page_text(response)
    db.session.expire_all()
    assert ent.contacts == [] and audit_count(ent.id) == before


def test_figures_set_update_and_delete(client, coordinator):
    ent = make_enterprise()
    db.session.commit()
    response = client.post(f"/enterprises/{ent.id}/figures", data={
        "figure-year": "2025", "figure-output_value": "1,200.5", "figure-chengyu_output_value": "300"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#figures")
    figure = db.session.scalar(sa.select(EnterpriseFigure).where(EnterpriseFigure.enterprise_id == ent.id))
    assert (figure.year, str(figure.output_value), str(figure.chengyu_output_value)) == (2025, "1200.50", "300.00")
    # "修改" fills the form with that year's values.
    prefilled = client.get(f"/enterprises/{ent.id}?figure_year=2025").get_data(as_text=True)
    assert 'value="1200.50"' in prefilled
    # Same year again updates it.
    client.post(f"/enterprises/{ent.id}/figures", data={
        "figure-year": "2025", "figure-output_value": "1500", "figure-chengyu_output_value": "400"})
    db.session.expire_all()
    assert len(ent.figures) == 1 and str(ent.figures[0].output_value) == "1500.00"
    text = page_text(client.get(f"/enterprises/{ent.id}"))
    assert "录入2025年产值" in text and "修改2025年产值" in text
    assert "产值(万元): 1200.5 → 1500" in text
    response = client.post(f"/enterprises/{ent.id}/figures/{figure.id}/delete")
    assert response.status_code == 302
    assert db.session.get(EnterpriseFigure, figure.id) is None
    assert "删除2025年产值" in page_text(client.get(f"/enterprises/{ent.id}"))


@pytest.mark.parametrize("data, message", [
    ({"figure-year": "2025", "figure-output_value": "100", "figure-chengyu_output_value": "200"},
     "成渝配套产值不能大于产值"),
    ({"figure-year": "2025", "figure-output_value": "abc"}, "金额必须是数字"),
    ({"figure-year": "2025", "figure-output_value": "1.234"}, "金额最多保留两位小数"),
    ({"figure-year": "1990", "figure-output_value": "100"}, "年份应在2000到2100之间"),
    ({"figure-year": "", "figure-output_value": "100"}, "请填写年份"),
])
def test_figure_errors_are_flashed_and_nothing_saved(client, coordinator, data, message):
    ent = make_enterprise()
    db.session.commit()
    response = client.post(f"/enterprises/{ent.id}/figures", data=data, follow_redirects=True)
    assert response.status_code == 200
    assert message in page_text(response)
    db.session.expire_all()
    assert ent.figures == []


def test_partner_link_and_unlink(client, coordinator):
    ent = make_enterprise()
    db.session.commit()
    response = client.post(f"/enterprises/{ent.id}/partners", data={
        "partner-partner": PARTNER, "partner-supplies": "铝合金轮毂"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#partners")
    link = db.session.scalar(sa.select(EnterprisePartner).where(EnterprisePartner.enterprise_id == ent.id))
    assert link.partner.name == PARTNER and link.supplies == "铝合金轮毂"
    again = client.post(f"/enterprises/{ent.id}/partners", data={
        "partner-partner": PARTNER, "partner-supplies": "别的"}, follow_redirects=True)
    assert "已关联该成渝企业" in page_text(again)
    unknown = client.post(f"/enterprises/{ent.id}/partners", data={
        "partner-partner": "不存在的公司", "partner-supplies": "x"}, follow_redirects=True)
    assert "不是有效的选择" in page_text(unknown)
    response = client.post(f"/enterprises/{ent.id}/partners/{link.id}/delete")
    assert response.status_code == 302
    assert db.session.get(EnterprisePartner, link.id) is None
    text = page_text(client.get(f"/enterprises/{ent.id}"))
    assert f"关联成渝企业 {PARTNER}" in text and f"解除与 {PARTNER} 的配套关系" in text
    assert "配套内容: 铝合金轮毂 → (空)" in text


def test_a_record_of_another_enterprise_is_404(client, coordinator):
    ent = make_enterprise()
    other = make_enterprise()
    contact = domain.add_contact(None, other, {"name": "外企联系人"})
    db.session.commit()
    assert client.post(f"/enterprises/{ent.id}/contacts/{contact.id}/delete").status_code == 404
    assert client.post(f"/enterprises/{ent.id}/contacts/999999/delete").status_code == 404
    assert db.session.get(EnterpriseContact, contact.id) is not None


def test_commissioner_cannot_touch_unassigned_records(client):
    ent = make_enterprise()
    contact = domain.add_contact(None, ent, {"name": "孙联系人"})
    login(client, make_user("commissioner", specialties=["tech"]))
    assert client.post(f"/enterprises/{ent.id}/contacts", data={"contact-name": "x"}).status_code == 404
    assert client.post(f"/enterprises/{ent.id}/contacts/{contact.id}/delete").status_code == 404
    db.session.expire_all()
    assert [c.name for c in ent.contacts] == ["孙联系人"]


def test_small_forms_need_the_csrf_token(client, app, monkeypatch):
    ent = make_enterprise()
    login(client, make_user("coordinator"))
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    refused = client.post(f"/enterprises/{ent.id}/contacts", data={"contact-name": "无令牌"})
    assert refused.status_code == 400 and "安全令牌" in page_text(refused)
    html = client.get(f"/enterprises/{ent.id}").get_data(as_text=True)
    token = re.search(r'name="contact-csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    accepted = client.post(f"/enterprises/{ent.id}/contacts",
                           data={"contact-name": "有令牌", "contact-csrf_token": token})
    assert accepted.status_code == 302
    contact = ent.contacts[0]
    refused = client.post(f"/enterprises/{ent.id}/contacts/{contact.id}/delete")
    assert refused.status_code == 400
    deleted = client.post(f"/enterprises/{ent.id}/contacts/{contact.id}/delete",
                          data={"csrf_token": csrf_token_from(html)})
    assert deleted.status_code == 302
    db.session.expire_all()
    assert ent.contacts == []


# --- pages are CSP-clean --------------------------------------------------------------------------------------

def test_pages_have_no_inline_script_or_style_and_send_the_csp(client, coordinator):
    ent = make_enterprise()
    domain.add_contact(None, ent, {"name": "周联系人"})
    db.session.commit()
    for url in ("/enterprises/", "/enterprises/?q=zzz", f"/enterprises/{ent.id}", "/enterprises/new",
                f"/enterprises/{ent.id}/edit"):
        response = client.get(url)
        assert response.status_code == 200, url
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, url
        html = response.get_data(as_text=True)
        assert "<script>" not in html, url
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle=", html), url
        assert not re.search(r"\son[a-z]+=", html), url  # no inline event handlers either
