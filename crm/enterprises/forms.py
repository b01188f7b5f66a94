"""Enterprise forms: they check the shape of the input; the domain functions check the rules and persist.

Reference values travel by their Chinese names, as the domain functions expect (API.md's vocabulary).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from crm.core import cache
from crm.core.time import local_today
from crm.core.transactions import prepared
from crm.core.widgets import Select
from crm.enterprises import hooks
from crm.enterprises.domain import uscc_error
from crm.enterprises.models import Enterprise, EnterpriseStatus
from crm.extensions import db
from crm.reference.models import Cluster, County, Park, Partner, SupplyCategory, all_of

STATUS_CHOICES = [SelectChoice(status.value, status.label) for status in EnterpriseStatus]
SORT_CHOICES = [SelectChoice("name", "按名称(拼音)"), SelectChoice("county", "按区县"),
                SelectChoice("-updated", "最近更新")]
ABOVE_SCALE_CHOICES = [SelectChoice("", "不限"), SelectChoice("1", "规上企业"), SelectChoice("0", "规下企业")]
PER_PAGE_OPTIONS = (20, 50, 100, 200)


def _choices(blank: str | None, names: Any) -> list[SelectChoice]:
    """A select's choices: ``blank`` first (when given, value ""), then each name as its own value and label."""
    return ([SelectChoice("", blank)] if blank is not None else []) + [SelectChoice(n, n) for n in names]


def _names(model: type, blank: str | None = None) -> list[SelectChoice]:
    return _choices(blank, (row.name for row in all_of(model)))


def _county_scope(user: Any) -> int | None:
    """The one county a county-scoped user may pick (``None``: any): a record elsewhere would vanish from their
    view. The list's filters (:func:`_filter_names`) and the record forms (:func:`_counties_for`) both ask here."""
    return getattr(user, "county_id", None)


def _counties_for(user: Any, blank: str) -> list[SelectChoice]:
    own = _county_scope(user)
    return _choices(blank, (c.name for c in all_of(County) if own is None or c.id == own))


# --- the list's filters --------------------------------------------------------------------------------------

def _filter_names(user: Any) -> tuple[list[str], list[str], list[str]]:
    """The names of the counties ``user`` may pick (:func:`_counties_for`'s), the clusters and the supply categories,
    each in ``all_of``'s order, read in one statement of plain columns (a ``UNION ALL``, built once a process): the
    list page read them as three statements of entities on every view (≈ 0.5 ms of its ≈ 8)."""
    county_id = _county_scope(user)
    scoped = county_id is not None
    stmt = _FILTER_NAMES.get(scoped)
    if stmt is None:
        county = sa.select(sa.literal_column("0").label("kind"), County.name.label("name"),
                           County.sort_order.label("sort_order"), County.id.label("id"))
        if scoped:
            county = county.where(County.id == sa.bindparam("county_id"))
        union = sa.union_all(
            county,
            sa.select(sa.literal_column("1"), Cluster.name, Cluster.sort_order, Cluster.id),
            sa.select(sa.literal_column("2"), SupplyCategory.name, SupplyCategory.sort_order, SupplyCategory.id),
        ).subquery()
        stmt = _FILTER_NAMES[scoped] = prepared(  # small tables, one plan for any county
            sa.select(union.c.kind, union.c.name).order_by(union.c.kind, union.c.sort_order, union.c.id))
    found: tuple[list[str], list[str], list[str]] = ([], [], [])
    # Kept per process while the names are unchanged (crm/core/cache.py): the counties and clusters move
    # ``reference``, the supply categories ``enterprises``. The list page reads the versions anyway (its kept rows),
    # so a served copy costs no statement (issue 11, ninth pass: one statement of four on every view of the list).
    for kind, name in cache.cached_rows("enterprises.filter_names", FILTER_NAME_KINDS, stmt,
                                        {"county_id": county_id} if scoped else {}):
        found[kind].append(name)
    return found


_FILTER_NAMES: dict[bool, sa.Select] = {}  # with and without a county scope
FILTER_NAME_KINDS = ("reference", "enterprises")


class SearchForm(FlaskForm):
    """The list page's GET filters. No CSRF (nothing changes); unknown values simply match nothing."""

    class Meta:
        csrf = False

    q = StringField("搜索", render_kw={"placeholder": "企业名称、拼音、首字母或信用代码", "type": "search"})
    # drawn on every view of the list: the faster select widget (the same bytes, crm.core.widgets.Select)
    county = SelectField("区县", validate_choice=False, widget=Select())
    cluster = SelectField("产业集群", validate_choice=False, widget=Select())
    supply_category = SelectField("配套类别", validate_choice=False, widget=Select())
    above_scale = SelectField("规上", choices=ABOVE_SCALE_CHOICES, validate_choice=False, widget=Select())
    sort = SelectField("排序", choices=SORT_CHOICES, default="name", validate_choice=False, widget=Select())
    per_page = SelectField("每页", validate_choice=False, widget=Select())

    def fill_choices(self, user: Any, per_page: int) -> None:
        names = _filter_names(user)
        self.county.choices = _choices("全部区县", names[0])
        self.cluster.choices = _choices("全部集群", names[1])
        self.supply_category.choices = _choices("全部类别", names[2])
        options = sorted({*PER_PAGE_OPTIONS, per_page})
        self.per_page.choices = [SelectChoice(str(n), f"{n} 条") for n in options]
        self.per_page.data = str(per_page)

    hooked: list[SelectField] = []  # the selects of the filters other capabilities registered (see search_form)

    def drawn_key(self, user: Any) -> tuple[Any, ...]:
        """What the drawn form shows, once :meth:`fill_choices` ran: every field's value, and the choices, which
        follow from the user's county scope (the names they may pick, themselves under :data:`FILTER_NAME_KINDS`'
        versions), the per-page value (an unusual one asked for is added) and constants (the sort, 规上 and the
        registered filters' choices)."""
        return (_county_scope(user), *((field.name, field.data) for field in self))

    def filters(self) -> dict[str, str]:
        """The values search_statement takes."""
        names = ("q", "county", "cluster", "supply_category", "above_scale", *(f.name for f in self.hooked), "sort")
        return {name: (self[name].data or "").strip() for name in names}


def _registered_shape() -> tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]:
    """The filters other capabilities registered, as (name, label, choices): what the form's class is built from."""
    return tuple((found.name, found.label, tuple(found.choices)) for found in hooks.registered_search_filters())


def search_form(formdata: Any) -> SearchForm:
    """The list page's filters, with a select per filter another capability registered (the lists: 所在名单),
    after the registry's own (``crm.enterprises.hooks.search_filter``)."""
    shape = _registered_shape()
    form_class = _SEARCH_FORMS.get(shape)
    if form_class is None:  # built once per process for the filters registered (a class a view was ≈ 0.1 ms)
        selects = {name: SelectField(label, validate_choice=False, widget=Select(), choices=[
            SelectChoice("", "不限"), *(SelectChoice(value, text) for value, text in choices)])
            for name, label, choices in shape}
        form_class = _SEARCH_FORMS[shape] = type("SearchForm", (SearchForm,), selects)
    form = form_class(formdata=formdata)
    form.hooked = [form[name] for name, _, _ in shape]
    return form


_SEARCH_FORMS: dict[tuple[Any, ...], type[SearchForm]] = {}


def filled_search_form(formdata: Any, user: Any, per_page: int) -> SearchForm:
    """:func:`search_form` with its choices for ``user`` (:meth:`SearchForm.fill_choices`): the form drawn."""
    form = search_form(formdata)
    form.fill_choices(user, per_page)
    return form


# What the form gives for a request's arguments, per process (the most recent READ_SIZE argument sets).
READ_SIZE = 1024
_READ = cache.Bounded(READ_SIZE)


def read_filters(args: Any, user: Any, per_page: int) -> tuple[dict[str, str], tuple[Any, ...]]:
    """``(filters(), drawn_key(user))`` of :func:`filled_search_form` for these arguments, without building the
    form when the same arguments were read before: what a form gives is a function of the arguments, the user's
    county scope, the per-page value and the filters registered, and nothing else (the choices it is filled with
    are not in either). Building, filling and reading it was ≈ 0.2 ms of a 3 ms view of the list (the eleventh
    provincial-scale pass); the drawn form itself is kept apart (``cache.cached_markup`` under the names' versions),
    so a view whose filters were read and drawn before builds no form at all. The filters come as a new dict."""
    key = (_registered_shape(), tuple(args.items(multi=True)), _county_scope(user), per_page)

    def read() -> tuple[dict[str, str], tuple[Any, ...]]:
        form = filled_search_form(args, user, per_page)
        return form.filters(), form.drawn_key(user)

    found = _READ.remember(key, read)
    return dict(found[0]), found[1]


# --- create / edit -----------------------------------------------------------------------------------------

class EnterpriseForm(FlaskForm):
    name = StringField("企业名称", validators=[DataRequired("请填写企业名称"),
                                               Length(max=120, message="企业名称最长120个字符")])
    uscc = StringField("统一社会信用代码", validators=[DataRequired("请填写统一社会信用代码")],
                       render_kw={"autocomplete": "off", "spellcheck": "false"})
    county = SelectField("区县", validators=[DataRequired("请选择区县")])
    park = SelectField("所在园区", validators=[Optional()])
    cluster = SelectField("产业集群", validators=[DataRequired("请选择产业集群")])
    supply_category = SelectField("配套类别", validators=[Optional()])
    above_scale = BooleanField("规模以上企业(规上)")
    main_products = TextAreaField("主要产品", validators=[Length(max=2000, message="主要产品最长2000个字符")])
    settled_from_chengyu = BooleanField("成渝地区招商落户企业")
    settled_on = DateField("落户日期", validators=[Optional()])
    status = SelectField("经营状态", choices=STATUS_CHOICES, default="active")
    # Optimistic locking: the version the user started from (the domain refuses a stale one).
    version = HiddenField()

    def validate_uscc(self, field: StringField) -> None:
        problem = uscc_error(field.data or "")
        if problem:
            raise ValidationError(problem)

    def fill_choices(self, user: Any) -> None:
        self.county.choices = _counties_for(user, "请选择区县")
        self.cluster.choices = _names(Cluster, "请选择产业集群")
        self.supply_category.choices = _names(SupplyCategory, "(未指定)")
        counties = all_of(County)
        order = {c.id: i for i, c in enumerate(counties)}
        names = {c.id: c.name for c in counties}
        parks = sorted(all_of(Park), key=lambda p: (order.get(p.county_id, len(order)), p.id))
        if getattr(user, "county_id", None) is not None:
            parks = [p for p in parks if p.county_id in (None, user.county_id)]
        # Grouped by county (optgroups), so a phone user finds the park quickly.
        self.park.choices = [SelectChoice("", "(无)")] + [
            SelectChoice(p.name, p.name, optgroup=names.get(p.county_id, "其他")) for p in parks]

    @staticmethod
    def initial(enterprise: Enterprise) -> dict[str, Any]:
        """The form's values for an existing record (GET of the edit page)."""
        return {
            "name": enterprise.name,
            "uscc": enterprise.uscc,
            "county": enterprise.county.name,
            "park": enterprise.park.name if enterprise.park else "",
            "cluster": enterprise.cluster.name,
            "supply_category": enterprise.supply_category.name if enterprise.supply_category else "",
            "above_scale": enterprise.above_scale,
            "main_products": enterprise.main_products,
            "settled_from_chengyu": enterprise.settled_from_chengyu,
            "settled_on": enterprise.settled_on,
            "status": enterprise.status.value,
            "version": str(enterprise.version),
        }

    def to_data(self, *, with_version: bool = False) -> dict[str, Any]:
        """The input for create_enterprise / update_enterprise."""
        data: dict[str, Any] = {
            "name": self.name.data,
            "uscc": self.uscc.data,
            "county": self.county.data,
            "park": self.park.data or None,
            "cluster": self.cluster.data,
            "supply_category": self.supply_category.data or None,
            "above_scale": bool(self.above_scale.data),
            "main_products": self.main_products.data or "",
            "settled_from_chengyu": bool(self.settled_from_chengyu.data),
            "settled_on": self.settled_on.data,
            "status": self.status.data,
        }
        if with_version:
            # A missing version would skip the stale check: send something the domain refuses instead.
            data["version"] = self.version.data or "missing"
        return data


# --- the detail page's small forms ---------------------------------------------------------------------------

class ContactForm(FlaskForm):
    name = StringField("姓名", validators=[DataRequired("请填写联系人姓名"),
                                           Length(max=40, message="姓名最长40个字符")])
    post = StringField("职务", validators=[Optional(), Length(max=40, message="职务最长40个字符")])
    phone = StringField("电话", validators=[Optional(), Length(max=20, message="电话号码格式不正确")],
                        render_kw={"type": "tel", "inputmode": "tel"})

    def to_data(self) -> dict[str, str]:
        return {"name": self.name.data or "", "post": self.post.data or "", "phone": self.phone.data or ""}


class FigureForm(FlaskForm):
    """One year's 产值; an existing year is updated. Amounts are parsed by the domain (万元, two decimals)."""

    year = IntegerField("年份", validators=[InputRequired("请填写年份"),
                                           NumberRange(2000, 2100, "年份应在2000到2100之间")])
    output_value = StringField("产值(万元)", validators=[DataRequired("请填写产值(万元)")],
                               render_kw={"inputmode": "decimal", "autocomplete": "off"})
    chengyu_output_value = StringField("成渝配套产值(万元)", validators=[Optional()],
                                       render_kw={"inputmode": "decimal", "autocomplete": "off"})
    above_scale = SelectField("当年是否规上", choices=[SelectChoice("", "未填(按企业现状)"), SelectChoice("yes", "是"),
                                                   SelectChoice("no", "否")], validate_choice=False)

    def set_defaults(self) -> None:
        if self.year.data is None:
            self.year.data = local_today().year

    @staticmethod
    def above_scale_choice(value: bool | None) -> str:
        return "" if value is None else ("yes" if value else "no")

    def to_data(self) -> dict[str, Any]:
        above = {"yes": True, "no": False, "": None}.get(self.above_scale.data or "", self.above_scale.data)
        return {"output_value": self.output_value.data or "",
                "chengyu_output_value": self.chengyu_output_value.data or "0", "above_scale": above}


class PartnerLinkForm(FlaskForm):
    partner = SelectField("成渝企业", validators=[DataRequired("请选择成渝企业")])
    supplies = StringField("配套内容", validators=[DataRequired("请填写配套内容"),
                                                  Length(max=200, message="配套内容最长200个字符")],
                           render_kw={"placeholder": "如:铝合金轮毂、线束"})

    def fill_choices(self) -> None:
        """The catalogue grouped by region; read as three plain columns (the fifth provincial-scale pass: the
        choices name a partner, they need no entity of each)."""
        partners = db.session.execute(sa.select(Partner.id, Partner.name, Partner.region)).all()
        self.partner.choices = [SelectChoice("", "请选择成渝企业")] + [
            SelectChoice(p.name, p.name, optgroup=p.region or "其他")
            for p in sorted(partners, key=lambda p: (p.region or "其他", p.id))]


class DeleteForm(FlaskForm):
    """A POST button with its CSRF token."""
