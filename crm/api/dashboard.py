"""Dashboard endpoints (API.md, "Dashboard"): the plan's targets against counted actuals, the counting rules.

``GET /dashboard/targets?year=`` answers :func:`crm.dashboard.targets.dashboard` as it is (API.md's shape, with
more fields): admins, leaders and city-wide coordinators get every county, a county-scoped caller their county's
unit and the city total; commissioners are refused (403). The counting rules are read by the same readers and
changed by admins (``PATCH /dashboard/rules``, audited).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field

from crm.api import bp
from crm.api.auth import current_user
from crm.api.schema import (
    DateStr,
    DateTimeStr,
    Input,
    Msg,
    Parsed,
    Query,
    Shape,
    body,
    code,
    dump,
    one_of,
    operation,
    query,
)
from crm.core.errors import NotFound
from crm.core.time import isoformat_local
from crm.dashboard import rules as rules_domain
from crm.dashboard import targets as targets_domain
from crm.dashboard.models import OutputMeasure
from crm.extensions import db

Colour = Annotated[one_of(["green", "amber", "red"]), Field(
    description="按直线进度:达到应完成比例 green,达到其 80% amber,低于 red")]


class TargetRow(Shape):
    """一个单位(全市或区县)的规上配套企业数与产值:目标与实际"""

    unit: str = Field(description="单位:全市为“遵义市”,区县为其名称", examples=["汇川区"])
    target_firms: int | None = Field(description="规上配套企业目标(家);无目标为 null")
    actual_firms: int = Field(description="按统计口径计入的规上配套企业(家)")
    target_output: float | None = Field(description="产值目标(亿元)")
    actual_output: float = Field(description="计入企业当年产值(亿元,由万元折算)")
    chengyu_output: float = Field(description="计入企业当年成渝配套产值(亿元)")
    gap_firms: int | None = Field(description="距目标尚差企业数(已达成为 0)")
    gap_output: float | None = Field(description="距目标尚差产值(亿元,已达成为 0)")
    status_firms: Colour | None
    status_output: Colour | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> TargetRow:
        return cls(**{name: row[name] for name in cls.model_fields})


class CountTarget(Shape):
    """全市的一项计数目标:目标与实际"""

    target: int | None = Field(description="目标;无目标为 null")
    actual: int
    gap: int | None = Field(description="尚差(已达成为 0)")
    status: Colour | None


class CountingRulesText(Shape):
    """各项实际数的统计口径(中文表述及其依据)"""

    firms: str = Field(description="规上配套企业的计数口径")
    output: str = Field(description="产值的计数口径")
    settled_from_chengyu: str = Field(description="成渝落户企业的计数口径")
    parks: str = Field(description="配套产业园区的计数口径")
    trajectory: str = Field(description="进度颜色的判断方法")
    list: str = Field(description="所依据的名单", examples=["融入成渝经济圈工业配套企业名单"])
    list_edition: str | None = Field(description="所依据的名单期次;尚无已发布版本为 null", examples=["2025H2"])
    list_date: DateStr | None = Field(
        description="名单有效日期(年度已结束时为当年12月31日;未结束为 null,用最新发布版本)")
    output_measure: code(OutputMeasure) = Field(description="产值口径")
    output_measure_label: str
    settled_since: DateStr = Field(description="成渝落户企业起算日期")
    settled_until: DateStr
    parks_until: DateStr
    trajectory_start: DateStr = Field(description="直线进度起算日期")


class TargetsDashboard(Shape):
    """目标完成情况"""

    year: int
    city: TargetRow = Field(description="全市:目标为全市目标,实际为各区县合计")
    units: list[TargetRow] = Field(description="有目标的区县(区县用户仅本区县)")
    parks: CountTarget = Field(description="配套产业园区")
    settled_from_chengyu: CountTarget = Field(description="成渝地区落户企业")
    rules: CountingRulesText
    expected_share: float = Field(ge=0, le=1, description="按直线进度此时应完成的比例")
    as_of: DateStr = Field(description="进度判断日(今天;年度已结束为12月31日)")
    frozen: bool = Field(description="年度结束后已冻结:此后档案变动不再影响结果")
    frozen_at: DateTimeStr | None
    edition: str | None = Field(description="计入的名单期次")
    targets_add_up: list[str] = Field(description="各区县目标合计与全市目标不一致时的说明;一致为空")

    @classmethod
    def of(cls, data: dict[str, Any]) -> TargetsDashboard:
        return cls(**{**data, "city": TargetRow.of(data["city"]),
                      "units": [TargetRow.of(row) for row in data["units"]]})


class TargetsQuery(Query):
    INVALID: ClassVar[str] = "年份不正确"
    year: Annotated[int | None, Field(ge=2000, le=2100), Msg("年份必须是 2000 至 2100 之间的整数")] = Field(
        None, description="目标年份(默认:尚未结束的第一个目标年份)", examples=[2025])


class CountingRules(Shape):
    """可设置的统计口径"""

    output_measure: code(OutputMeasure) = Field(description="产值口径")
    output_measure_label: str
    settled_since: DateStr = Field(description="成渝落户企业起算日期")
    trajectory_start: DateStr = Field(description="直线进度起算日期")
    updated_by: str | None = Field(description="最后修改人用户名;从未修改为 null")
    updated_at: DateTimeStr | None
    version: int = Field(description="乐观锁版本,PATCH 时可回传")

    @classmethod
    def of(cls, rules: Any) -> CountingRules:
        return cls(output_measure=rules.output_measure.value, output_measure_label=rules.output_measure.label,
                   settled_since=rules.settled_since.isoformat(), trajectory_start=rules.trajectory_start.isoformat(),
                   updated_by=rules.updated_by.username if rules.updated_by else None,
                   updated_at=isoformat_local(rules.updated_at), version=rules.version)


class CountingRulesPatch(Input):
    """修改统计口径(管理员)"""

    INVALID: ClassVar[str] = rules_domain.INVALID
    output_measure: Parsed[code(OutputMeasure)] = Field(None, description="产值口径(代码或中文名)")
    settled_since: Parsed[DateStr] = Field(None, description="成渝落户企业起算日期 YYYY-MM-DD")
    trajectory_start: Parsed[DateStr] = Field(None, description="直线进度起算日期 YYYY-MM-DD")
    version: Parsed[int] = Field(None, description="过期则 409(stale),不写入任何内容")


@bp.get("/dashboard/targets")
@operation("目标完成情况:全市与各区县的规上配套企业数、产值(亿元),配套产业园区,成渝落户企业,及统计口径",
           ok=TargetsDashboard, query=TargetsQuery, errors=(403, 404))
def dashboard_targets():
    """The targets of ``year`` against the counted actuals, scoped to the caller; a frozen year from its snapshot."""
    user = current_user()
    targets_domain.require_view(user)
    year = query(TargetsQuery).year or targets_domain.default_year()
    if year is None:
        raise NotFound("尚未录入任何目标")
    return dump(TargetsDashboard.of(targets_domain.dashboard(year, user)))


@bp.get("/dashboard/rules")
@operation("统计口径(可设置项)", ok=CountingRules, errors=(403,))
def get_counting_rules():
    targets_domain.require_view(current_user())
    return dump(CountingRules.of(rules_domain.current_rules()))


@bp.patch("/dashboard/rules")
@operation("修改统计口径(仅管理员;留痕);版本过期 409 stale", ok=CountingRules, body=CountingRulesPatch,
           errors=(403, 409, 422))
def patch_counting_rules():
    data = body(CountingRulesPatch)
    version = data.pop("version", None)
    saved = rules_domain.update_rules(current_user(), data, version=version)
    db.session.commit()
    return dump(CountingRules.of(saved))


class CountedFirm(Shape):
    """计入的一家企业"""

    id: int = Field(description="企业 id(一企一档 /enterprises/<id>)")
    name: str
    county: str
    output: float = Field(description="当年计入产值(亿元,按统计口径)")
    chengyu_output: float = Field(description="当年成渝配套产值(亿元)")


class CountedFirms(Shape):
    """某年计入规上配套企业数的企业(下钻)"""

    year: int
    county: str | None = Field(description="区县;null 为全市(区县用户为本区县)")
    items: list[CountedFirm]


class CountedFirmsQuery(Query):
    county: str = Field("", description="区县名称;不填为全市(区县用户只能查本区县)")


@bp.get("/dashboard/targets/<int:year>/firms")
@operation("下钻:某年计入规上配套企业数与产值的企业(已冻结年度为冻结时的名单与数值)", ok=CountedFirms,
           query=CountedFirmsQuery, errors=(403, 404))
def dashboard_target_firms(year: int):
    user = current_user()
    county = query(CountedFirmsQuery).county or None
    rows = targets_domain.drill_firms(year, user, county=county)
    return dump(CountedFirms(year=year, county=county or targets_domain.county_scope(user),
                             items=[CountedFirm(**row) for row in rows]))
