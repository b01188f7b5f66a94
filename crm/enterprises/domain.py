"""Enterprise rules shared by the pages, the API, the CLI and the demo loader.

Every write goes through here and records its audit row in the same transaction.
Input uses the API's vocabulary: reference values by their Chinese names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import sqlalchemy as sa
from pypinyin import Style, lazy_pinyin
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from crm.auth.models import Role
from crm.core import access, audit, cache
from crm.core.audit import AuditLog
from crm.core.errors import Conflict, ValidationFailed
from crm.core.parsing import check_version as core_check_version
from crm.core.parsing import parse_enum
from crm.core.transactions import prepared
from crm.enterprises import hooks
from crm.enterprises.access import covers_county
from crm.enterprises.models import (
    Enterprise,
    EnterpriseContact,
    EnterpriseFigure,
    EnterprisePartner,
    EnterpriseStatus,
    name_bigrams,
)
from crm.extensions import db
from crm.reference.models import Cluster, County, Park, Partner, SupplyCategory, by_name

EDITABLE_FIELDS = (
    "name", "uscc", "county", "park", "cluster", "supply_category", "above_scale", "main_products",
    "settled_from_chengyu", "settled_on", "status",
)
MAX_OUTPUT = Decimal("99999999999.99")


# --- normalisation and checks ----------------------------------------------------------------------------

def normalise_uscc(value: str) -> str:
    return stdnum_uscc.compact(value or "")


def uscc_error(value: str) -> str | None:
    """A Chinese message saying what is wrong with a 统一社会信用代码, or ``None`` when it is valid."""
    code = normalise_uscc(value)
    if not code:
        return "请填写统一社会信用代码"
    try:
        stdnum_uscc.validate(code)
    except InvalidLength:
        return f"统一社会信用代码应为18位,当前为{len(code)}位"
    except InvalidChecksum:
        return "统一社会信用代码校验位不正确,请核对最后一位"
    except (InvalidFormat, InvalidComponent):
        return "统一社会信用代码格式不正确(前8位为数字,其余为数字或大写字母,不含 I、O、Z、S、V)"
    return None


def name_key(name: str) -> str:
    """Normalised name for duplicate detection: full-width forms folded, spaces and brackets unified."""
    text = unicodedata.normalize("NFKC", name or "")
    text = re.sub(r"\s+", "", text)
    return text.replace("(", "(").replace(")", ")").lower()


def pinyin_of(name: str) -> tuple[str, str]:
    """Full pinyin and initials of a name, lower-case, for search (PITFALLS: store them)."""
    full = "".join(lazy_pinyin(name, errors="default")).lower()
    initials = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")).lower()
    # bounded by their columns (a 120-character name can spell more than 600 letters of pinyin)
    return re.sub(r"[^0-9a-z]", "", full)[:600], re.sub(r"[^0-9a-z]", "", initials)[:120]


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "y", "on", "是"}
    return bool(value)


def _parse_date(value: Any, field: str, fields: dict[str, str]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        fields[field] = "日期格式应为 YYYY-MM-DD"
        return None


def parse_amount(value: Any, field: str, fields: dict[str, str], *, required: bool = True) -> Decimal | None:
    """An amount in 万元: non-negative, at most two decimals."""
    if value in (None, ""):
        if required:
            fields[field] = "请填写金额(万元)"
        return None
    if isinstance(value, bool):
        fields[field] = "金额必须是数字"
        return None
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        fields[field] = "金额必须是数字"
        return None
    if not amount.is_finite() or amount < 0:
        fields[field] = "金额不能为负数"
        return None
    if amount > MAX_OUTPUT:
        fields[field] = "金额过大"
        return None
    if amount != amount.quantize(Decimal("0.01")):
        fields[field] = "金额最多保留两位小数"
        return None
    return amount.quantize(Decimal("0.01"))


@dataclass
class EnterpriseInput:
    """Validated values for an enterprise, resolved to model objects."""

    values: dict[str, Any]


def validate_enterprise(data: dict[str, Any], *, existing: Enterprise | None = None, partial: bool = False,
                        actor: Any = None) -> dict[str, Any]:
    """Check and resolve input; raise :class:`ValidationFailed` with every field's problem at once, then
    :class:`Conflict` for a duplicate (naming the other enterprise only when ``actor`` may see it)."""
    fields: dict[str, str] = {}
    values: dict[str, Any] = {}
    unknown = set(data) - set(EDITABLE_FIELDS) - {"version", "id"}
    for key in sorted(unknown):
        fields[key] = "不支持的字段"

    def wanted(key: str) -> bool:
        return not partial or key in data

    if wanted("name"):
        name = str(data.get("name") or "").strip()
        if not name:
            fields["name"] = "请填写企业名称"
        elif len(name) > 120 or len(name_key(name)) > 120:
            fields["name"] = "企业名称最长120个字符"
        else:
            values["name"] = name
    if wanted("uscc"):
        problem = uscc_error(str(data.get("uscc") or ""))
        if problem:
            fields["uscc"] = problem
        else:
            values["uscc"] = normalise_uscc(str(data["uscc"]))
    for key, model, label, required in (
        ("county", County, "区县", True),
        ("cluster", Cluster, "产业集群", True),
        ("supply_category", SupplyCategory, "配套类别", False),
        ("park", Park, "园区", False),
    ):
        if not wanted(key):
            continue
        raw = data.get(key)
        if raw in (None, ""):
            if required:
                fields[key] = f"请选择{label}"
            else:
                values[key] = None
            continue
        obj = by_name(model, str(raw))
        if obj is None:
            fields[key] = f"未知{label}:{raw}"
        else:
            values[key] = obj
    if wanted("above_scale"):
        values["above_scale"] = _parse_bool(data.get("above_scale", False))
    if wanted("main_products"):
        products = str(data.get("main_products") or "").strip()
        if len(products) > 2000:
            fields["main_products"] = "主要产品最长2000个字符"
        values["main_products"] = products
    if wanted("settled_from_chengyu"):
        values["settled_from_chengyu"] = _parse_bool(data.get("settled_from_chengyu", False))
    if wanted("settled_on"):
        values["settled_on"] = _parse_date(data.get("settled_on"), "settled_on", fields)
    if wanted("status"):
        status = parse_enum(EnterpriseStatus, data.get("status") or EnterpriseStatus.ACTIVE, field="status",
                            what="经营状态", fields=fields)
        if status is not None:
            values["status"] = status
    settled = values.get("settled_from_chengyu", existing.settled_from_chengyu if existing else False)
    settled_on = values.get("settled_on", existing.settled_on if existing else None) if (
        "settled_on" in values or existing) else None
    if settled and settled_on is None and "settled_on" not in fields:
        fields["settled_on"] = "成渝落户企业请填写落户日期"
    park = values.get("park")
    county = values.get("county", existing.county if existing else None)
    if park is not None and county is not None and park.county_id not in (None, county.id):
        fields["park"] = "所选园区不在该区县"
    if fields:
        raise ValidationFailed("企业信息有误", fields)
    _check_duplicates(values, existing, actor)
    return values


DUPLICATE_USCC_HIDDEN = "该统一社会信用代码已登记,该企业不在您的管辖范围内;如需核实请联系市级协调员"
DUPLICATE_NAME_HIDDEN = "已有同名企业登记,该企业不在您的管辖范围内;如需核实请联系市级协调员"


def _check_duplicates(values: dict[str, Any], existing: Enterprise | None, actor: Any = None) -> None:
    """Refuse a 统一社会信用代码 or a name already taken by another enterprise (409 ``duplicate``).

    The message names the other enterprise only when ``actor`` may see it (``None``: the system, e.g. the demo
    loader); otherwise it says the code or name is taken, and by nobody in particular: neither the firm, its
    county nor its id leaks out of the actor's scope (issue 10, item 5)."""
    own_id = existing.id if existing else -1
    if "uscc" in values:
        clash = db.session.scalar(
            sa.select(Enterprise).where(Enterprise.uscc == values["uscc"], Enterprise.id != own_id))
        if clash:
            message = (f"该统一社会信用代码已被“{clash.name}”使用" if _may_see(actor, clash)
                       else DUPLICATE_USCC_HIDDEN)
            raise Conflict("统一社会信用代码重复", {"uscc": message}, code="duplicate")
    if "name" in values:
        clash = db.session.scalar(
            sa.select(Enterprise).where(Enterprise.name_key == name_key(values["name"]), Enterprise.id != own_id))
        if clash:
            message = (f"已有同名企业(统一社会信用代码 {clash.uscc})" if _may_see(actor, clash)
                       else DUPLICATE_NAME_HIDDEN)
            raise Conflict("企业名称重复", {"name": message}, code="duplicate")


def _may_see(actor: Any, enterprise: Enterprise) -> bool:
    return actor is None or access.can(actor, access.Action.VIEW, enterprise)


def _apply(enterprise: Enterprise, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(enterprise, key, value)
    if "name" in values:
        enterprise.name_key = name_key(values["name"])
        enterprise.name_pinyin, enterprise.name_initials = pinyin_of(values["name"])


def _audit_values(values: dict[str, Any]) -> dict[str, Any]:
    """Reference objects shown by name in the audit trail."""
    return {k: (getattr(v, "name", v) if k in {"county", "cluster", "supply_category", "park"} else v)
            for k, v in values.items()}


def _check_county_scope(actor: Any, values: dict[str, Any]) -> None:
    """A county-scoped user may not put an enterprise in another county (it would leave their own scope)."""
    county = values.get("county")
    if county is not None and not covers_county(actor, county.id):
        raise ValidationFailed("企业信息有误", {"county": f"只能选择您所辖的区县:{actor.county.name}"})


def create_enterprise(actor: Any, data: dict[str, Any], *, is_demo: bool = False) -> Enterprise:
    values = validate_enterprise(data, actor=actor)
    _check_county_scope(actor, values)
    enterprise = Enterprise(is_demo=is_demo)
    _apply(enterprise, values)
    db.session.add(enterprise)
    db.session.flush()
    audit.record(actor, "enterprise", enterprise.id, "create",
                 {k: [None, v] for k, v in _audit_values(values).items()},
                 enterprise_id=enterprise.id, summary=f"新建企业档案 {enterprise.name}")
    return enterprise


def check_version(enterprise: Enterprise, version: Any) -> None:
    core_check_version(enterprise, version, "该企业档案已被他人修改,请刷新后重试")


def update_enterprise(actor: Any, enterprise: Enterprise, data: dict[str, Any], *, partial: bool = True) -> Enterprise:
    check_version(enterprise, data.get("version"))
    values = validate_enterprise(data, existing=enterprise, partial=partial, actor=actor)
    _check_county_scope(actor, values)
    old = _audit_values({k: getattr(enterprise, k) for k in values})
    new = _audit_values(values)
    changes = {k: [old[k], new[k]] for k in values if audit.jsonable(old[k]) != audit.jsonable(new[k])}
    if not changes:
        return enterprise
    _apply(enterprise, {k: values[k] for k in changes})
    db.session.flush()
    audit.record(actor, "enterprise", enterprise.id, "update", changes,
                 enterprise_id=enterprise.id, summary=f"修改企业档案 {enterprise.name}")
    return enterprise


# --- figures, contacts, partners -------------------------------------------------------------------------

def set_figure(actor: Any, enterprise: Enterprise, year: Any, data: dict[str, Any], *,
               is_demo: bool = False) -> EnterpriseFigure:
    """Record or change one year's 产值 (万元). ``above_scale`` (规上 in that year: true, false or ``None`` for not
    recorded, when the dashboard falls back to the enterprise's current flag) is changed only when ``data`` has it."""
    fields: dict[str, str] = {}
    try:
        year = int(year)
        if not 2000 <= year <= 2100:
            raise ValueError
    except (TypeError, ValueError):
        fields["year"] = "年份应在2000到2100之间"
    output = parse_amount(data.get("output_value"), "output_value", fields)
    chengyu = parse_amount(data.get("chengyu_output_value", 0), "chengyu_output_value", fields)
    if output is not None and chengyu is not None and chengyu > output:
        fields["chengyu_output_value"] = "成渝配套产值不能大于产值"
    above_given = "above_scale" in data
    above = data.get("above_scale")
    if above_given and above is not None and not isinstance(above, bool):
        fields["above_scale"] = "当年是否规上应为是、否或不填"
    if fields:
        raise ValidationFailed("产值数据有误", fields)
    figure = db.session.scalar(sa.select(EnterpriseFigure).where(
        EnterpriseFigure.enterprise_id == enterprise.id, EnterpriseFigure.year == year))
    if figure is None:
        figure = EnterpriseFigure(enterprise=enterprise, year=year, output_value=output,
                                  chengyu_output_value=chengyu, above_scale=above if above_given else None,
                                  is_demo=is_demo)
        db.session.add(figure)
        db.session.flush()
        changes = {"year": [None, year], "output_value": [None, output], "chengyu_output_value": [None, chengyu]}
        if figure.above_scale is not None:
            changes["above_scale"] = [None, figure.above_scale]
        audit.record(actor, "figure", figure.id, "create", changes, enterprise_id=enterprise.id,
                     summary=f"录入{year}年产值")
        return figure
    values: dict[str, Any] = {"output_value": output, "chengyu_output_value": chengyu}
    if above_given:
        values["above_scale"] = above
    changes = audit.diff(figure, values)
    if changes:
        for key, value in values.items():
            setattr(figure, key, value)
        audit.record(actor, "figure", figure.id, "update", changes, enterprise_id=enterprise.id,
                     summary=f"修改{year}年产值")
    return figure


def delete_figure(actor: Any, figure: EnterpriseFigure) -> None:
    audit.record(actor, "figure", figure.id, "delete",
                 {"year": [figure.year, None], "output_value": [figure.output_value, None],
                  "chengyu_output_value": [figure.chengyu_output_value, None]},
                 enterprise_id=figure.enterprise_id, summary=f"删除{figure.year}年产值")
    db.session.delete(figure)


PHONE_RE = re.compile(r"^[0-9+\-() ]{5,20}$")


def add_contact(actor: Any, enterprise: Enterprise, data: dict[str, Any]) -> EnterpriseContact:
    fields: dict[str, str] = {}
    name = str(data.get("name") or "").strip()
    post = str(data.get("post") or "").strip()
    phone = str(data.get("phone") or "").strip()
    if not name:
        fields["name"] = "请填写联系人姓名"
    elif len(name) > 40:
        fields["name"] = "姓名最长40个字符"
    if len(post) > 40:
        fields["post"] = "职务最长40个字符"
    if phone and not PHONE_RE.match(phone):
        fields["phone"] = "电话号码格式不正确"
    if fields:
        raise ValidationFailed("联系人信息有误", fields)
    contact = EnterpriseContact(enterprise=enterprise, name=name, post=post, phone=phone)
    db.session.add(contact)
    db.session.flush()
    audit.record(actor, "contact", contact.id, "create",
                 {"name": [None, name], "post": [None, post], "phone": [None, phone]},
                 enterprise_id=enterprise.id, summary=f"添加联系人 {name}")
    return contact


def delete_contact(actor: Any, contact: EnterpriseContact) -> None:
    audit.record(actor, "contact", contact.id, "delete",
                 {"name": [contact.name, None], "post": [contact.post, None], "phone": [contact.phone, None]},
                 enterprise_id=contact.enterprise_id, summary=f"删除联系人 {contact.name}")
    db.session.delete(contact)


def link_partner(actor: Any, enterprise: Enterprise, partner_name: str, supplies: str, *,
                 is_demo: bool = False) -> EnterprisePartner:
    partner = by_name(Partner, partner_name)
    fields: dict[str, str] = {}
    if partner is None:
        fields["partner"] = f"未知成渝企业:{partner_name}" if partner_name else "请选择成渝企业"
    supplies = (supplies or "").strip()
    if not supplies:
        fields["supplies"] = "请填写配套内容"
    elif len(supplies) > 200:
        fields["supplies"] = "配套内容最长200个字符"
    if fields:
        raise ValidationFailed("配套关系有误", fields)
    exists = db.session.scalar(sa.select(EnterprisePartner).where(
        EnterprisePartner.enterprise_id == enterprise.id, EnterprisePartner.partner_id == partner.id))
    if exists:
        raise Conflict("该配套关系已存在", {"partner": "已关联该成渝企业"}, code="duplicate")
    link = EnterprisePartner(enterprise=enterprise, partner=partner, supplies=supplies, is_demo=is_demo)
    db.session.add(link)
    db.session.flush()
    audit.record(actor, "partner_link", link.id, "create",
                 {"partner": [None, partner.name], "supplies": [None, supplies]},
                 enterprise_id=enterprise.id, summary=f"关联成渝企业 {partner.name}")
    return link


def unlink_partner(actor: Any, link: EnterprisePartner) -> None:
    audit.record(actor, "partner_link", link.id, "delete",
                 {"partner": [link.partner.name, None], "supplies": [link.supplies, None]},
                 enterprise_id=link.enterprise_id, summary=f"解除与 {link.partner.name} 的配套关系")
    db.session.delete(link)


# --- search ------------------------------------------------------------------------------------------------

SORTS = {
    "name": Enterprise.name_pinyin.asc(),
    "-name": Enterprise.name_pinyin.desc(),
    "county": County.sort_order.asc(),
    "-county": County.sort_order.desc(),
    "updated": Enterprise.updated_at.asc(),
    "-updated": Enterprise.updated_at.desc(),
}


def search_statement(user: Any, *, q: str = "", county: str = "", cluster: str = "", supply_category: str = "",
                     above_scale: str = "", sort: str = "name", **hooked: str) -> sa.Select:
    """The enterprise list query: what ``user`` may see, filtered and sorted.

    ``hooked``: the values of the filters other capabilities registered (:func:`crm.enterprises.hooks.search_filter`;
    the lists' ``roster``); an empty value filters nothing, an unknown name is a programming error (TypeError).
    """
    # No join for the filters: county and cluster are matched by id (a scalar subquery on the small reference
    # table), so an unfiltered page is "enterprises ORDER BY name_pinyin, id LIMIT 50" — read from
    # ix_enterprises_name_pinyin_id without sorting — and its count reads one table. The county, cluster and
    # category shown come with the rows (their lazy="joined" relationships: three joins on the page's 50 rows).
    stmt = sa.select(Enterprise)
    if sort in {"county", "-county"}:  # by the counties' order: a join, and a sort of the matching rows
        stmt = stmt.join(Enterprise.county)
    stmt = access.scope(user, Enterprise, stmt)
    q = (q or "").strip()
    if q:
        # A fragment anywhere (LIKE '%q%'; "%" and "_" are escaped and mean themselves). On PostgreSQL each arm
        # is served by the trigram index ix_enterprises_search_trgm (3 characters or more). The name is matched
        # with ILIKE (PostgreSQL; lower() LIKE lower() on SQLite), which the trigram index serves; pinyin,
        # initials and USCC hold only [0-9a-z] / [0-9A-Z], so a query with any other character (Chinese) is
        # matched against the name alone — the same rows, one LIKE instead of four.
        pattern = "%" + q.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
        if q.lower() == q.upper():  # nothing to fold (Chinese, digits): LIKE, cheaper than ILIKE on non-ASCII text
            name_arm = Enterprise.name.like(pattern, escape="/")
            if len(q) == 2 and db.session.get_bind().dialect.name == "postgresql":
                # Two characters (遵义, 永兴 — the usual Chinese query) have no trigram: the bigram index
                # ix_enterprises_name_bigrams finds the names holding that pair (2 ms instead of a 50 ms scan at
                # 100,000 enterprises); the LIKE stays as the check.
                name_arm = sa.and_(name_bigrams(Enterprise.name).contains([q]), name_arm)
        else:
            name_arm = Enterprise.name.ilike(pattern, escape="/")
        arms = [name_arm]
        if re.fullmatch(r"[0-9A-Za-z]+", q):
            arms += [Enterprise.name_initials.like(pattern.lower(), escape="/"),
                     Enterprise.name_pinyin.like(pattern.lower(), escape="/"),
                     Enterprise.uscc.like(pattern.upper(), escape="/")]
        stmt = stmt.where(sa.or_(*arms))
    if county:
        stmt = stmt.where(Enterprise.county_id == sa.select(County.id).where(County.name == county)
                          .scalar_subquery())
    if cluster:
        stmt = stmt.where(Enterprise.cluster_id == sa.select(Cluster.id).where(Cluster.name == cluster)
                          .scalar_subquery())
    if supply_category:
        stmt = stmt.where(Enterprise.supply_category_id == sa.select(SupplyCategory.id)
                          .where(SupplyCategory.name == supply_category).scalar_subquery())
    if above_scale in {"1", "true", "yes"}:
        stmt = stmt.where(Enterprise.above_scale.is_(True))
    elif above_scale in {"0", "false", "no"}:
        stmt = stmt.where(Enterprise.above_scale.is_(False))
    if hooked:
        registered = {found.name: found for found in hooks.registered_search_filters()}
        for name, value in hooked.items():
            if name not in registered:
                raise TypeError(f"search_statement() got an unknown filter {name!r}")
            if value:
                stmt = registered[name].apply(stmt, value)
    order = SORTS.get(sort, SORTS["name"])
    if q and sort in {"name", "-name"} or q and sort not in SORTS:
        # With a search term, sort the matches (found through the trigram / bigram index) instead of walking
        # ix_enterprises_name_pinyin_id and testing every row until 50 match: the planner cannot know that, say,
        # all 25,000 names holding 遵义 sit at the end of the pinyin order (zunyi…), and such a walk read 75,000
        # rows (40–700 ms). ``name_pinyin || ''`` is the same string (the same order, in any collation) and not that
        # index's expression; it replaced lower() of the (lower-case) pinyin, which PostgreSQL computes slowly on
        # UTF-8 text: q=鑫源's 2,541 matches sorted in 2.5 ms instead of 3.6 (the fifth pass, benchmarks/README.md).
        unindexed = Enterprise.name_pinyin.concat("")
        order = unindexed.desc() if sort == "-name" else unindexed.asc()
    stmt = stmt.order_by(order, Enterprise.id)
    if not q and getattr(user, "role", None) is Role.COMMISSIONER:
        # A commissioner's enterprises are their assignments (a few hundred, whatever the data size): one plan
        # serves every commissioner and page, kept on the connection (crm.core.transactions.prepared). Planning
        # was 4.4 ms of the page statement's 8.9; from the kept plan it runs in 3.2–3.9 ms (100,000 enterprises).
        # Never with a search term (a fragment's best plan depends on it: the kept plan took 131 ms for 鑫源
        # against 6), nor for a county's or the city's list (kept plans sorted all their enterprises: 15–38 ms
        # against 2–11). Checked with EXPLAIN of EXECUTE under plan_cache_mode = force_generic_plan.
        stmt = prepared(stmt)
    return stmt


def kept_search_statement(user: Any, filters: dict[str, str]) -> sa.Select:
    """``search_statement(user, **filters)``, built once per process for each user and ``filters``
    (crm.core.cache.built_for), for the list's page and ``GET /api/v1/enterprises``: its construction, with the
    scope, the search's four arms and the key SQLAlchemy computes for it, was ≈ 0.1–0.8 ms of a 3–5 ms kept page
    (the eleventh provincial-scale pass, benchmarks/README.md)."""
    return cache.built_for(user, "enterprises.search", lambda: search_statement(user, **filters),
                           *sorted(filters.items()))


# What a page of the list reads, as data versions (crm/core/cache.py): the enterprises' records with their contacts,
# figures, partner links and the names they show (``enterprises``, migration e8b3f1c6a2d4: any edit, which also
# moves ``updated_at``, a sort), the counties' and clusters' names and order (``reference``), a commissioner's scope
# and the lists' filter (``assignments``: their assignments, the lists' entries and editions). The list's pages and
# ``GET /api/v1/enterprises`` are kept under them (crm.core.pagination.paginate's ``kept``).
LIST_KINDS = ("enterprises", "reference", "assignments")


def counted_with_page(filters: dict[str, Any]) -> bool:
    """Whether the list for ``filters`` (:func:`search_statement`'s arguments) counts its matches in the page's
    statement (:func:`crm.core.pagination.paginate`'s ``count_with_page``): with a search term, whose matches are
    all read (from the trigram / bigram index, in no order) and sorted to find any page, so the separate
    ``count(*)`` was a second pass over them. Without one, a page is read in an index's order (50 entries for
    page 1) and the count is index-only: a window would read every row instead.

    Measured (EXPLAIN ANALYZE, 100,000 enterprises; count + page statement → the one statement, planning included):
    q=鑫源 (2,541 matches) 3.7 + 7.2 → 6.3 ms; q=zyq (584) 1.7 + 4.0 → 2.7 ms; 汇川区's coordinator, q=zyq (111)
    2.7 + 4.9 → 3.0 ms."""
    return bool(str(filters.get("q") or "").strip())


# --- the list as plain columns ------------------------------------------------------------------------------
# A page of the list (the page and the API) read as ORM entities cost more Python than anything else in the
# request: 50 enterprises of 20 columns with three joined relations, and for the API their contacts, figures,
# partner links and partners, each an instrumented object (≈ 7 ms of a 13 ms request at 100,000 enterprises).
# The list only shows values, so it reads them as rows (benchmarks/README.md, "Fifth pass: the enterprise list").

_COUNTY, _CLUSTER, _CATEGORY, _PARK = (aliased(model) for model in (County, Cluster, SupplyCategory, Park))


def _name_of(alias: Any, key: Any) -> Any:
    return sa.select(alias.name).where(alias.id == key).correlate(Enterprise).scalar_subquery()


def listed(stmt: sa.Select, *columns: Any) -> sa.Select:
    """``stmt`` (:func:`search_statement`, narrowed to a page's keys) reading plain columns: ``columns`` of the
    enterprise, then the names of its county, cluster, supply category and park, labelled ``county``,
    ``cluster``, ``supply_category`` and ``park`` (``None`` when it has none); the filters, the scope and the order
    stay ``stmt``'s.

    Each name is a correlated scalar subquery by primary key on the page's rows (through aliases: the ``county``
    sort has joined ``counties`` already), not a join: with four more joins the planner weighed every order of
    them, ≈ 4.4 ms of a commissioner's page statement at provincial scale; a subquery is planned on its own
    (the seventh pass, benchmarks/README.md)."""
    return stmt.with_only_columns(
        *columns, _name_of(_COUNTY, Enterprise.county_id).label("county"),
        _name_of(_CLUSTER, Enterprise.cluster_id).label("cluster"),
        _name_of(_CATEGORY, Enterprise.supply_category_id).label("supply_category"),
        _name_of(_PARK, Enterprise.park_id).label("park"))


@dataclass
class Children:
    """The contacts, figures and partner links of a page of enterprises, as rows per enterprise id, each list in
    its relationship's order (contacts and links by id, figures newest year first)."""

    contacts: dict[int, list[tuple[int, str, str, str]]]
    figures: dict[int, list[tuple[int, Decimal, Decimal, bool | None]]]
    partner_links: dict[int, list[tuple[str, str]]]


def children_of(ids: list[int]) -> Children:
    """What hangs off the enterprises ``ids``, in one statement (:func:`_children_statement`). Contacts:
    ``(id, name, post, phone)``; figures: ``(year, output_value, chengyu_output_value, above_scale)``; links:
    ``(partner, supplies)``."""
    found = Children({}, {}, {})
    if not ids:
        return found
    dialect = db.session.get_bind().dialect.name
    stmt = _CHILDREN.get(dialect)
    if stmt is None:
        stmt = _CHILDREN[dialect] = _children_statement(dialect == "postgresql")
    for kind, enterprise_id, n, a, b, c, x, y, flag in db.session.execute(stmt, {"ids": ids}):
        if kind == 0:
            found.contacts.setdefault(enterprise_id, []).append((n, a, b, c))
        elif kind == 1:
            found.figures.setdefault(enterprise_id, []).append((-n, x, y, flag))
        else:
            found.partner_links.setdefault(enterprise_id, []).append((a, b))
    return found


_CHILDREN: dict[str, sa.Select] = {}  # per dialect name: built once a process, the ids are its one parameter


def _children_statement(array: bool) -> sa.Select:
    """The contacts, figures and partner links of the enterprises ``:ids`` as one ``UNION ALL`` of plain columns,
    ``(kind, enterprise_id, n, a, b, c, x, y, flag)``: kind 0 a contact ``(id, name, post, phone)``, 1 a figure
    ``(-year, …, output_value, chengyu_output_value, above_scale)``, 2 a link ``(id, partner's name, supplies)``;
    ordered by kind, enterprise and ``n`` (each relationship's order). One round trip instead of a statement per
    relation, no ORM object per row, and the statement built once (building a three-armed union cost ≈ 1 ms).

    ``array`` (PostgreSQL): the ids are one array parameter (``= ANY(%(ids)s)``), a short statement psycopg keeps
    parsed and prepared; an expanded IN renders a placeholder per id in each arm (150 for a page of 50), which
    psycopg parsed again on every call. SQLite gets the expanded IN."""
    if array:
        keys = sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.Integer)))

        def among(column: Any) -> Any:
            return column == keys
    else:
        keys = sa.bindparam("ids", expanding=True)

        def among(column: Any) -> Any:
            return column.in_(keys)
    amount = sa.Numeric(14, 2)  # typed in the first arm: the union's columns take its types (Decimal on SQLite too)
    contacts = sa.select(
        sa.literal_column("0").label("kind"), EnterpriseContact.enterprise_id.label("enterprise_id"),
        EnterpriseContact.id.label("n"), EnterpriseContact.name.label("a"), EnterpriseContact.post.label("b"),
        EnterpriseContact.phone.label("c"), sa.cast(sa.null(), amount).label("x"),
        sa.cast(sa.null(), amount).label("y"), sa.cast(sa.null(), sa.Boolean).label("flag"),
    ).where(among(EnterpriseContact.enterprise_id))
    figures = sa.select(
        sa.literal_column("1"), EnterpriseFigure.enterprise_id, -EnterpriseFigure.year, sa.null(), sa.null(),
        sa.null(), EnterpriseFigure.output_value, EnterpriseFigure.chengyu_output_value, EnterpriseFigure.above_scale,
    ).where(among(EnterpriseFigure.enterprise_id))
    links = sa.select(
        sa.literal_column("2"), EnterprisePartner.enterprise_id, EnterprisePartner.id, Partner.name,
        EnterprisePartner.supplies, sa.null(), sa.null(), sa.null(), sa.null(),
    ).join_from(EnterprisePartner, Partner, Partner.id == EnterprisePartner.partner_id
                ).where(among(EnterprisePartner.enterprise_id))
    union = sa.union_all(contacts, figures, links).subquery()
    return sa.select(union).order_by(union.c.kind, union.c.enterprise_id, union.c.n)


# --- 一企一档: what hangs off one record ------------------------------------------------------------------------

class RecordContact(NamedTuple):
    id: int
    name: str
    post: str
    phone: str


class RecordFigure(NamedTuple):
    id: int
    year: int
    output_value: Decimal
    chengyu_output_value: Decimal
    above_scale: bool | None
    is_demo: bool


class RecordLink(NamedTuple):
    id: int
    partner_name: str
    partner_region: str | None
    supplies: str


class CatalogueEntry(NamedTuple):
    id: int
    name: str
    region: str | None


@dataclass
class Record:
    """What the 一企一档 page shows under the record itself, each list in its relationship's order (contacts and
    links by id, figures newest year first), and the 成渝 partner catalogue for the link form (empty unless
    asked for)."""

    contacts: list[RecordContact]
    figures: list[RecordFigure]
    partner_links: list[RecordLink]
    partners: list[CatalogueEntry]


def record_children(enterprise_id: int, *, with_partners: bool = False) -> Record:
    """The contacts, figures and partner links of one enterprise (and, ``with_partners``, the partner catalogue)
    in one statement of plain columns (:func:`_record_statement`). The page read them as three lazy loads of
    entities (a link joined to its partner) and the catalogue as a fourth statement: four round trips and an ORM
    object per row (the sixth provincial-scale pass, in-process on the bench database's rich record: ≈ 1.1–2 ms,
    now ≈ 0.3 ms)."""
    stmt = _RECORD.get(with_partners)
    if stmt is None:
        stmt = _RECORD[with_partners] = prepared(_record_statement(with_partners))  # by the id: one plan
    found = Record([], [], [], [])
    for kind, n, ident, a, b, c, x, y, flag, demo in db.session.execute(stmt, {"enterprise_id": enterprise_id}):
        if kind == 0:
            found.contacts.append(RecordContact(ident, a, b, c))
        elif kind == 1:
            found.figures.append(RecordFigure(ident, -n, x, y, flag, demo))
        elif kind == 2:
            found.partner_links.append(RecordLink(ident, a, b, c))
        else:
            found.partners.append(CatalogueEntry(ident, a, b))
    return found


_RECORD: dict[bool, sa.Select] = {}  # with and without the catalogue: built once a process


def _record_statement(with_partners: bool) -> sa.Select:
    """``(kind, n, id, a, b, c, x, y, flag, demo)`` rows, ``UNION ALL``, ordered by kind then ``n``: kind 0 a
    contact ``(n = id, name, post, phone)``, 1 a figure ``(n = -year, output_value, chengyu_output_value,
    above_scale, is_demo)``, 2 a link ``(n = id, partner's name, partner's region, supplies)``, 3 a catalogue
    partner ``(n = id, name, region)``. The first arm types the union's columns (Decimal and bool on SQLite
    too)."""
    key = sa.bindparam("enterprise_id", type_=sa.Integer)
    amount = sa.Numeric(14, 2)
    arms = [
        sa.select(sa.literal_column("0").label("kind"), EnterpriseContact.id.label("n"),
                  EnterpriseContact.id.label("id"), EnterpriseContact.name.label("a"),
                  EnterpriseContact.post.label("b"), EnterpriseContact.phone.label("c"),
                  sa.cast(sa.null(), amount).label("x"), sa.cast(sa.null(), amount).label("y"),
                  sa.cast(sa.null(), sa.Boolean).label("flag"), sa.cast(sa.null(), sa.Boolean).label("demo"),
                  ).where(EnterpriseContact.enterprise_id == key),
        sa.select(sa.literal_column("1"), -EnterpriseFigure.year, EnterpriseFigure.id, sa.null(), sa.null(),
                  sa.null(), EnterpriseFigure.output_value, EnterpriseFigure.chengyu_output_value,
                  EnterpriseFigure.above_scale, EnterpriseFigure.is_demo,
                  ).where(EnterpriseFigure.enterprise_id == key),
        sa.select(sa.literal_column("2"), EnterprisePartner.id, EnterprisePartner.id, Partner.name, Partner.region,
                  EnterprisePartner.supplies, sa.null(), sa.null(), sa.null(), sa.null(),
                  ).join_from(EnterprisePartner, Partner, Partner.id == EnterprisePartner.partner_id
                              ).where(EnterprisePartner.enterprise_id == key),
    ]
    if with_partners:
        arms.append(sa.select(sa.literal_column("3"), Partner.id, Partner.id, Partner.name, Partner.region,
                              sa.null(), sa.null(), sa.null(), sa.null(), sa.null()))
    union = sa.union_all(*arms).subquery()
    return sa.select(union).order_by(union.c.kind, union.c.n)


# --- history -----------------------------------------------------------------------------------------------

def history_statement(enterprise_id: int, viewer: Any = None) -> sa.Select:
    """The enterprise's audit trail, newest first; with ``viewer``, without what the capabilities hide from them
    (a commissioner: the rows of list editions they may not open)."""
    return audit.history_statement(enterprise_id, hooks.history_conditions(viewer) if viewer is not None else ())


def history(enterprise_id: int, viewer: Any = None) -> list[AuditLog]:
    return list(db.session.scalars(history_statement(enterprise_id, viewer)))
