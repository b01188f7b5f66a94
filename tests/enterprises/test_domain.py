"""Enterprise rules: the 统一社会信用代码 check, duplicates, pinyin, figures, validation messages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.core.errors import Conflict, ValidationFailed
from crm.enterprises import domain
from crm.extensions import db
from tests.conftest import make_enterprise, make_park, make_uscc

VALID = make_uscc(424242)


def base(**extra):
    data = {"name": "遵义双盛电气系统有限公司", "uscc": VALID, "county": "桐梓县", "cluster": "汽车及电池材料",
            "supply_category": "关键零部件", "above_scale": True, "main_products": "汽车线束"}
    data.update(extra)
    return data


@pytest.mark.parametrize(("code", "message"), [
    (VALID[:-1] + ("0" if VALID[-1] != "0" else "1"), "校验位"),
    (VALID[:-1], "应为18位"),
    (VALID + "1", "应为18位"),
    ("", "请填写"),
    ("A1520300MA6DL8N1X3"[:18], "格式不正确"),
])
def test_uscc_refusals_say_why(code, message):
    assert message in domain.uscc_error(code)
    with pytest.raises(ValidationFailed) as err:
        domain.create_enterprise(None, base(uscc=code))
    assert message in err.value.fields["uscc"]


def test_valid_uscc_normalised_from_lower_case_and_spaces():
    assert domain.uscc_error(VALID) is None
    lower = VALID.lower()
    spaced = f" {lower[:6]} {lower[6:]} "
    ent = domain.create_enterprise(None, base(uscc=spaced))
    assert ent.uscc == VALID


def test_duplicate_uscc_and_duplicate_name_refused():
    domain.create_enterprise(None, base())
    db.session.flush()
    with pytest.raises(Conflict) as err:
        domain.create_enterprise(None, base(name="另一家公司"))
    assert "已被" in err.value.fields["uscc"]
    with pytest.raises(Conflict) as err:
        domain.create_enterprise(None, base(name="遵义双盛电气系统有限公司 ", uscc=make_uscc(424243)))
    assert "同名企业" in err.value.fields["name"]


def test_name_key_folds_full_width_brackets_and_spaces():
    assert domain.name_key("成都飞机工业(集团)有限责任公司") == domain.name_key("成都飞机工业 (集团) 有限责任公司")


def test_pinyin_and_initials_are_stored():
    ent = domain.create_enterprise(None, base())
    assert ent.name_initials.startswith("zyssdqxt")
    assert ent.name_pinyin.startswith("zunyishuangsheng")


def test_every_bad_field_reported_at_once():
    with pytest.raises(ValidationFailed) as err:
        domain.create_enterprise(None, {"name": "", "uscc": "123", "county": "不存在县", "cluster": ""})
    assert set(err.value.fields) >= {"name", "uscc", "county", "cluster"}
    assert err.value.fields["county"] == "未知区县:不存在县"


def test_settled_from_chengyu_needs_a_date_and_park_must_be_in_county():
    make_park("播州铝及铝加工产业园", "播州区")
    with pytest.raises(ValidationFailed) as err:
        domain.create_enterprise(None, base(settled_from_chengyu=True, park="播州铝及铝加工产业园"))
    assert "落户日期" in err.value.fields["settled_on"]
    assert "不在该区县" in err.value.fields["park"]
    ent = domain.create_enterprise(None, base(settled_from_chengyu=True, settled_on="2025-03-01",
                                              park="桐梓(重庆)工业园"))
    assert ent.settled_on.isoformat() == "2025-03-01" and ent.park.name == "桐梓(重庆)工业园"


def test_unknown_field_refused():
    with pytest.raises(ValidationFailed) as err:
        domain.create_enterprise(None, base(secret_admin_flag=True))
    assert "secret_admin_flag" in err.value.fields


def test_stale_version_refused_and_nothing_changes():
    ent = make_enterprise(main_products="A")
    version = ent.version
    domain.update_enterprise(None, ent, {"main_products": "B", "version": version})
    db.session.flush()
    assert ent.version == version + 1
    with pytest.raises(Conflict) as err:
        domain.update_enterprise(None, ent, {"main_products": "C", "version": version})
    assert err.value.code == "stale"
    assert ent.main_products == "B"


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"output_value": "-1"}, "output_value", "负数"),
    ({"output_value": "abc"}, "output_value", "数字"),
    ({"output_value": "1.234"}, "output_value", "两位小数"),
    ({"output_value": "100", "chengyu_output_value": "200"}, "chengyu_output_value", "不能大于产值"),
    ({}, "output_value", "请填写"),
])
def test_figure_validation(data, field, message):
    ent = make_enterprise()
    with pytest.raises(ValidationFailed) as err:
        domain.set_figure(None, ent, 2025, data)
    assert message in err.value.fields[field]


def test_figure_year_range_and_update_in_place():
    ent = make_enterprise()
    with pytest.raises(ValidationFailed) as err:
        domain.set_figure(None, ent, "1999", {"output_value": "1"})
    assert "年份" in err.value.fields["year"]
    first = domain.set_figure(None, ent, 2025, {"output_value": "1,000.50", "chengyu_output_value": "10"})
    second = domain.set_figure(None, ent, 2025, {"output_value": "2000", "chengyu_output_value": "10"})
    assert first.id == second.id and second.output_value == Decimal("2000.00")


def test_contact_and_partner_validation():
    ent = make_enterprise()
    with pytest.raises(ValidationFailed) as err:
        domain.add_contact(None, ent, {"name": "", "phone": "call me"})
    assert set(err.value.fields) == {"name", "phone"}
    with pytest.raises(ValidationFailed) as err:
        domain.link_partner(None, ent, "不存在的企业", "")
    assert set(err.value.fields) == {"partner", "supplies"}
    domain.link_partner(None, ent, "重庆长安汽车股份有限公司", "铝合金压铸件")
    with pytest.raises(Conflict):
        domain.link_partner(None, ent, "重庆长安汽车股份有限公司", "另一种零件")


def test_search_by_name_initials_pinyin_and_uscc():
    from crm.core.pagination import paginate
    from tests.conftest import make_user

    admin = make_user("admin")
    ent = domain.create_enterprise(None, base())
    other = make_enterprise("贵州航锐航空精密零部件制造有限公司", county="红花岗区", cluster="航空航天装备")
    db.session.flush()

    def found(**filters):
        return {e.id for e in paginate(domain.search_statement(admin, **filters), 1, 200).items}

    assert ent.id in found(q="双盛") and other.id not in found(q="双盛")
    assert ent.id in found(q="zyss")
    assert ent.id in found(q="shuangsheng")
    assert ent.id in found(q=VALID[4:12].lower())
    assert other.id in found(county="红花岗区") and ent.id not in found(county="红花岗区")
    assert other.id in found(cluster="航空航天装备")
    assert ent.id in found(supply_category="关键零部件", above_scale="1")
    assert ent.id not in found(above_scale="0")


def test_search_wildcards_are_literal():
    from crm.core.pagination import paginate
    from tests.conftest import make_user

    admin = make_user("admin")
    make_enterprise("遵义百分之百科技有限公司")
    db.session.flush()
    for q in ("%", "_"):
        assert paginate(domain.search_statement(admin, q=q), 1, 200).total == 0
