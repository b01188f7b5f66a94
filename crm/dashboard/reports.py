"""The dashboard for the leadership meeting: one XLSX (a sheet per table, the rules on the first sheet) and the data
of the print layout. Both take the same numbers as the pages and the API: :func:`crm.dashboard.targets.dashboard`
and :func:`crm.dashboard.service.performance`, as the viewer may see them (a commissioner: their own service
performance only; the targets are not theirs to read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from crm.core import spreadsheet
from crm.core.time import format_local, utcnow

from . import service, targets

STATUS_TEXT = {"green": "进度正常", "amber": "略有滞后", "red": "明显滞后", None: "—"}
TARGET_COLUMNS = ("单位", "目标企业数", "实际企业数", "企业数差距", "企业数进度", "目标产值(亿元)", "实际产值(亿元)",
                  "产值差距(亿元)", "产值进度", "成渝配套产值(亿元)")
SERVICE_KEYS = ("visits", "interactions", "requests_raised", "requests_closed", "requests_overdue",
                "median_days_to_close", "on_time_rate", "mean_satisfaction", "deliveries_delivered",
                "deliveries_on_time_rate", "coverage", "meetings_chengyu")
COMMISSIONER_KEYS = ("visits", "interactions", "requests_closed", "on_time_rate", "mean_satisfaction",
                     "deliveries_delivered", "assigned_enterprises", "visited_enterprises", "visit_coverage")
RATES = {"on_time_rate", "deliveries_on_time_rate", "coverage", "visit_coverage"}
RANKINGS = {"on_time": "按时办结率", "satisfaction": "平均满意度", "visit_coverage": "走访覆盖率"}


@dataclass
class Report:
    """What the XLSX and the print layout show: the targets (``None`` when the viewer may not read them), the
    service performance, and the rules they were counted by, with when and for whom it was made."""

    year: int | None
    start: date
    end: date
    made_at: datetime
    targets: dict[str, Any] | None
    performance: dict[str, Any]
    rules: list[tuple[str, str]] = field(default_factory=list)


def build(viewer: Any, *, year: int | None, start: date, end: date, county: str | None = None) -> Report:
    """The report as ``viewer`` may see it. ``year`` None: the first target year not yet over."""
    performance = service.performance(viewer, start, end, county=county)
    board = None
    if targets.may_view(viewer):
        year = year or targets.default_year()
        board = targets.dashboard(year, viewer) if year is not None else None
    else:
        year = None
    report = Report(year=year, start=start, end=end, made_at=utcnow(), targets=board, performance=performance)
    report.rules = _rules(report)
    return report


def _rules(report: Report) -> list[tuple[str, str]]:
    rules: list[tuple[str, str]] = []
    if report.targets is not None:
        described = report.targets["rules"]
        for key, label in (("firms", "规上配套企业"), ("output", "产值"), ("settled_from_chengyu", "成渝企业落户"),
                           ("parks", "配套产业园区"), ("trajectory", "进度颜色")):
            if described.get(key):
                rules.append((label, described[key]))
        if report.targets.get("frozen"):
            rules.append(("冻结", f"{report.year}年数据已于 {report.targets['frozen_at']} 冻结,按冻结时的口径"))
    labels = report.performance["labels"]
    for key, text in report.performance["rules"].items():
        rules.append((labels.get(key, {"period": "统计期间", "visits": "走访", "departments": "按部门",
                                       "commissioners": "按专员"}.get(key, key)), text))
    return rules


def shown(key: str, value: Any) -> str:
    """A number as the report prints it: rates as percentages, ``—`` for nothing."""
    if value is None:
        return "—"
    if key in RATES:
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


def _target_row(row: dict[str, Any]) -> list[str]:
    return [row["unit"], shown("", row["target_firms"]), shown("", row["actual_firms"]), shown("", row["gap_firms"]),
            STATUS_TEXT.get(row["status_firms"], "—"), shown("", row["target_output"]),
            shown("", row["actual_output"]), shown("", row["gap_output"]), STATUS_TEXT.get(row["status_output"], "—"),
            shown("", row["chengyu_output"])]


def title(report: Report) -> str:
    period = f"{report.start.isoformat()} 至 {report.end.isoformat()}"
    return f"融入成渝工作进展({report.year}年目标 · 服务绩效 {period})" if report.targets else f"服务绩效({period})"


def xlsx(report: Report) -> bytes:
    """The workbook: 统计口径 first, then a sheet per table."""
    wb = spreadsheet.new_workbook()
    rules = wb.create_sheet("统计口径")
    rules.column_dimensions["A"].width = 18
    rules.column_dimensions["B"].width = 110
    spreadsheet.text_lines(rules, [[title(report)], ["生成时间", format_local(report.made_at)],
                                   *([label, text] for label, text in report.rules)], bold_first=True)
    board = report.targets
    if board is not None:
        table = spreadsheet.Table(wb, f"{report.year}年目标进度", TARGET_COLUMNS, default_width=14,
                                  widths={"单位": 16}, title=f"{report.year}年规上配套企业与产值")
        for row in [board["city"], *board["units"]]:
            table.append(_target_row(row))
        table.close()
        table = spreadsheet.Table(wb, "园区与落户", ("指标", "目标", "实际", "差距", "进度"), default_width=16)
        for label, key in (("配套产业园区", "parks"), ("成渝企业落户", "settled_from_chengyu")):
            number = board[key]
            table.append([label, shown("", number["target"]), shown("", number["actual"]),
                          shown("", number["gap"]), STATUS_TEXT.get(number["status"], "—")])
        table.close()
    perf = report.performance
    labels = perf["labels"]
    for sheet, rows, name_key, keys in (("服务绩效-区县", perf["counties"], "county", SERVICE_KEYS),
                                        ("服务绩效-部门", perf["departments"], "department", SERVICE_KEYS),
                                        ("服务绩效-专员", perf["commissioners"], "name", COMMISSIONER_KEYS)):
        if not rows and sheet != "服务绩效-专员":
            continue
        table = spreadsheet.Table(wb, sheet, ("名称", *(labels[k] for k in keys)), default_width=12,
                                  widths={"名称": 22})
        if name_key == "county" and perf.get("city"):
            table.append(["全市合计", *(shown(k, perf["city"].get(k)) for k in keys)])
        for row in rows:
            table.append([row[name_key], *(shown(k, row.get(k)) for k in keys)])
        table.close()
    table = spreadsheet.Table(wb, "走访月度", ("月份", "走访", "服务记录"), default_width=14)
    for month in perf["visits_by_month"]:
        table.append([month["month"], month["visits"], month["interactions"]])
    table.close()
    if perf["rankings"]:
        table = spreadsheet.Table(wb, "通报排名", ("排名项", "名次", "专员", "数值", "样本数"), default_width=14)
        for key, label in RANKINGS.items():
            for entry in perf["rankings"].get(key, []):
                table.append([label, entry["rank"], entry["name"],
                              shown("mean_satisfaction" if key == "satisfaction" else "visit_coverage"
                                    if key == "visit_coverage" else "on_time_rate", entry["value"]),
                              entry.get("count", "")])
        table.close()
    return spreadsheet.workbook_bytes(wb)


def filename(report: Report) -> str:
    return f"融入成渝工作进展_{report.made_at.strftime('%Y%m%d')}.xlsx"

