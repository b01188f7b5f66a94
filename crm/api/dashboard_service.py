"""Service performance (API.md "Dashboard"): ``GET /api/v1/dashboard/service?from=&to=&county=``.

The numbers come from :func:`crm.dashboard.service.performance`, the function the page
(``/dashboard/service``) shows, so both always agree. Who sees what: admins, leaders and city-wide coordinators
the city (any county may be selected); a county-scoped coordinator or leader their county and the city total
(another county → 403); a commissioner their own row only.
"""

from __future__ import annotations

from typing import Any

from flask import request
from pydantic import Field

from crm.api import bp
from crm.api.auth import current_user
from crm.api.schema import DateStr, Query, Shape, dump, one_of, operation
from crm.dashboard import service


class PerformanceQuery(Query):
    from_: str = Field("", alias="from", description="开始日期 YYYY-MM-DD(含);默认本月1日")
    to: str = Field("", description="结束日期 YYYY-MM-DD(含);默认今天")
    county: str = Field("", description="区县名称(全市用户可选;区县用户只能是本区县)")


class Period(Shape):
    from_: DateStr = Field(alias="from")
    to: DateStr


class Numbers(Shape):
    """一行服务绩效;比率为 0–1,无分母或不适用时为 null"""

    visits: int | None = Field(description="走访次数(渠道为走访的服务记录)")
    interactions: int | None = Field(description="全部服务记录")
    requests_raised: int = Field(description="期间内提出的诉求")
    requests_closed: int = Field(description="期间内办结的诉求")
    requests_overdue: int = Field(description="期末逾期未解决的诉求")
    median_days_to_close: float | None = Field(description="办结天数中位数")
    closed_on_time: int = Field(description="按时办结数")
    on_time_rate: float | None = Field(description="按时办结率")
    satisfaction_count: int = Field(description="有满意度的办结诉求数")
    mean_satisfaction: float | None = Field(description="平均满意度(1–5)")
    deliveries_delivered: int = Field(description="期间内兑现的政策")
    deliveries_on_time: int = Field(description="其中按承诺日期兑现的")
    deliveries_on_time_rate: float | None = Field(description="政策按时兑现率")
    listed: int | None = Field(description="名单企业数(区县与全市)")
    fully_covered: int | None = Field(description="五类专员均已分配的名单企业数")
    coverage: float | None = Field(description="专员覆盖率")
    meetings_chengyu: int | None = Field(description="与成渝对接的已举办会议活动")
    assigned_enterprises: int | None = Field(description="期间内分配给专员的企业(按专员)")
    visited_enterprises: int | None = Field(description="其中期间内由其走访过的")
    visit_coverage: float | None = Field(description="走访覆盖率")


class CountyNumbers(Numbers):
    county: str
    county_id: int


class DepartmentNumbers(Numbers):
    department: str = Field(description=f"责任单位名称;未指定时为“{service.NO_DEPARTMENT}”")
    department_id: int | None


class CommissionerNumbers(Numbers):
    user_id: int
    username: str
    name: str


class Month(Shape):
    month: str = Field(examples=["2026-11"])
    visits: int
    interactions: int


class Ranked(Shape):
    rank: int
    user_id: int
    username: str
    name: str
    value: float
    count: int = Field(description="分母:办结数、满意度评价数或分配企业数")


class Rankings(Shape):
    on_time: list[Ranked] = Field(description="按时办结率")
    satisfaction: list[Ranked] = Field(description="平均满意度")
    visit_coverage: list[Ranked] = Field(description="走访覆盖率")


class ServicePerformance(Shape):
    """服务绩效"""

    period: Period
    scope: one_of(["city", "county", "own"]) = Field(description="city:全市;county:本区县与全市合计;own:本人")
    county: str | None = Field(description="所选区县")
    city: Numbers | None = Field(description="全市合计(服务专员为 null)")
    total: Numbers = Field(description="所选范围的合计(全市、区县或本人)")
    counties: list[CountyNumbers]
    departments: list[DepartmentNumbers]
    commissioners: list[CommissionerNumbers] = Field(description="服务专员只见本人一行")
    visits_by_month: list[Month]
    rankings: Rankings | None = Field(description="月度通报排名(服务专员为 null)")
    rules: dict[str, str] = Field(description="各项数字的统计口径")

    @classmethod
    def of(cls, result: dict[str, Any]) -> ServicePerformance:
        period = result["period"]
        values = {key: value for key, value in result.items() if key != "labels"}
        values.update(period={"from": period["from"].isoformat(), "to": period["to"].isoformat()},
                      rankings=result["rankings"] or None)
        return cls.model_validate(values)


@bp.get("/dashboard/service")
@operation("服务绩效:走访、诉求提出/办结/逾期、办结天数中位数、按时办结率、满意度、政策按时兑现、专员覆盖率、"
           "成渝对接活动;按区县、责任单位与服务专员", ok=ServicePerformance, query=PerformanceQuery,
           errors=(403, 422))
def dashboard_service():
    """Service performance over ``from``–``to`` (dates, Asia/Shanghai, both included; default this month so
    far), as the caller may see it; a bad date → 422 naming ``from`` / ``to``."""
    start, end = service.parse_period(request.args.get("from", ""), request.args.get("to", ""))
    result = service.performance(current_user(), start, end, request.args.get("county", "").strip() or None)
    return dump(ServicePerformance.of(result))
