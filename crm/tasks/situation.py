"""The situation report to the city government (issue 12, item 5): per task of the plan (18 重点任务, then the 3
保障措施, in order) the units' latest progress, the figures the CRM holds for it, its milestones and what is late.

:func:`situation_report` returns a plain structure (dicts, lists, ints, strings, dates; nothing from the
database) that the print page and the XLSX both show, so a test computes its numbers by hand::

    {"as_of": date, "year": 2026, "cadence": "每月", "grace_working_days": 5,
     "due_period": {"key": "2026-11", "label": "2026年11月", "deadline": date},
     "target_year": 2027 | None,
     "tasks": [TASK, ...],
     "totals": {"units": n, "reported": n, "pending": n, "overdue": n, "behind": n, "items_overdue": n},
     "overdue_items": [ITEM, ...]}                     # every overdue rectification item, earliest due first
    TASK = {"id", "kind": "task" | "safeguard", "number", "label": "重点任务16", "title", "section",
            "units": [UNIT, ...],                      # the task's 责任单位 in the plan's order
            "counts": {"units", "reported", "pending", "overdue", "behind"},
            "figures": [{"key", "label", "value": str}],
            "milestones": [{"due_on": date, "county": str | None, "text", "metric", "target": int | float | None,
                            "actual": int | float | None, "met": bool | None}],
            "late": [str, ...],                        # one Chinese line per late thing
            "items": {"open": n, "overdue": n}}        # rectification items of visits about this task
    UNIT = {"unit": name, "latest_period": "2026-10" | None, "latest_status": "on_track" | "behind" | "done" | None,
            "latest_status_label": "按计划推进" | None, "due_state": "reported" | "pending" | "overdue",
            "due_state_label": "已报送" | "未报送" | "逾期未报送"}
    ITEM = {"id", "unit", "description", "due_date": date, "days_overdue", "status_label", "visit", "task"}

How each number is counted:

- The units' states are the task ledger's (:func:`crm.tasks.domain.ledger_states` at ``as_of``): a unit with a
  report for the *due period* (the period before the one ``as_of`` falls in), or whose latest report up to it
  says 已完成 (:func:`crm.tasks.domain.owes_report`, the reminder job's rule), is 已报送; without one it is
  未报送 until the due period's deadline
  (``grace_working_days`` working days after its end, by the app's holiday table) and 逾期未报送 after it.
  ``behind``: units whose latest report says 滞后. (Reports filed after ``as_of`` are not hidden: the ledger has
  no history of amendments.)
- Figures (by ``Task.figures``), all city-wide:
  ``rosters``: the size of the latest published edition of each list; ``meetings``: this year's required
  kinds held / planned / missing (:func:`crm.meetings.domain.yearly_rule`) and the meetings held with the 成渝
  area from 1 January to ``as_of``; ``service``: coverage, 诉求 closed and overdue and 政策 delivered from
  1 January to ``as_of``, exactly as 服务绩效 counts them (:func:`crm.dashboard.service.performance` for the
  whole city); ``targets`` / ``parks`` / ``settled``: the targets dashboard of the first target year not yet
  over (:func:`crm.dashboard.targets.compute`, or its frozen snapshot).
- Milestones: the actual of the milestone's year, or of ``as_of``'s year when that is earlier (progress so far):
  ``firms`` / ``output`` per county, ``parks`` and ``settled_from_chengyu`` from
  :func:`crm.dashboard.targets.actuals`; ``list_refresh``: editions of the list published that year;
  ``meetings``: meetings held that year with the 成渝 area. ``met``: actual ≥ target.
- Late: units 逾期未报送, units whose latest report is 滞后, and overdue rectification items (open or in progress
  past their due date) of visits about the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from crm.auth.models import Role
from crm.core import spreadsheet
from crm.core.time import SHANGHAI
from crm.dashboard import service as service_stats
from crm.dashboard import targets as target_stats
from crm.extensions import db
from crm.meetings.domain import counts_with_chengyu, year_bounds, yearly_rule
from crm.meetings.models import Meeting, MeetingStatus
from crm.rosters.domain import latest_published
from crm.rosters.models import EditionStatus, RosterEdition, RosterEntry, RosterKind
from crm.tasks.domain import DUE, OVERDUE, current_settings, ledger_states
from crm.tasks.models import RectificationItem, ReportStatus, SupervisionVisit, Task, TaskKind
from crm.tasks.periods import period_of
from crm.tasks.supervision import OPEN_STATUSES

STATE_LABELS = {"reported": "已报送", "pending": "未报送", "overdue": "逾期未报送"}
FIGURE_LABELS = {"rosters": "名单规模", "meetings": "会议活动", "service": "一对一服务", "targets": "目标进度",
                 "parks": "配套产业园区", "settled": "成渝企业落户"}
STATUS_TEXT = {"green": "进度正常", "amber": "略有滞后", "red": "明显滞后", None: "—"}
# Milestones of the lists: which list each task refreshes (task 16 the 配套企业名单, task 18 the 培育库).
LIST_OF_TASK = {16: RosterKind.SUPPLIER_LIST, 18: RosterKind.CULTIVATION_POOL}


# --- the figures ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _CityViewer:
    """The whole city, as 服务绩效 counts it for an admin: the report goes to the city government."""

    role: Role = Role.ADMIN
    county_id: None = None
    id: None = None


class _Figures:
    """The CRM's numbers, each computed once per report however many tasks show it."""

    def __init__(self, as_of: date):
        self.as_of = as_of
        self._cache: dict[Any, Any] = {}

    def _once(self, key: Any, make: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def target_year(self) -> int | None:
        return self._once("year", lambda: target_stats.default_year(self.as_of))

    def board(self) -> dict[str, Any] | None:
        def make() -> dict[str, Any] | None:
            year = self.target_year()
            if year is None:
                return None
            snapshot = target_stats.snapshot_of(year)
            if snapshot is not None:
                return {k: v for k, v in snapshot.data.items() if not k.startswith("_")}
            return target_stats.compute(year, today=self.as_of)
        return self._once("board", make)

    def performance(self) -> dict[str, Any]:
        return self._once("performance", lambda: service_stats.performance(
            _CityViewer(), date(self.as_of.year, 1, 1), self.as_of)["city"])

    def rosters(self) -> list[tuple[RosterKind, str | None, int]]:
        def make() -> list[tuple[RosterKind, str | None, int]]:
            rows = []
            for kind in RosterKind:
                edition = latest_published(kind)
                size = db.session.scalar(sa.select(sa.func.count()).select_from(RosterEntry).where(
                    RosterEntry.edition_id == edition.id)) if edition else 0
                rows.append((kind, edition.period if edition else None, size or 0))
            return rows
        return self._once("rosters", make)

    def rule(self) -> list[Any]:
        return self._once("rule", lambda: yearly_rule(self.as_of.year))

    def meetings_held(self, year: int) -> int:
        def make() -> int:
            start, end = year_bounds(year)
            if year == self.as_of.year:  # this year: up to the end of ``as_of``
                end = datetime.combine(self.as_of + timedelta(days=1), time(0), SHANGHAI)
            meetings = db.session.scalars(
                sa.select(Meeting).options(selectinload(Meeting.partner_links))
                .where(Meeting.status == MeetingStatus.HELD, Meeting.starts_at >= start, Meeting.starts_at < end))
            return sum(1 for m in meetings if counts_with_chengyu(m))
        return self._once(("held", year), make)

    def actuals(self, year: int) -> dict[str, Any]:
        return self._once(("actuals", year), lambda: target_stats.actuals(year, today=self.as_of))

    def editions_published(self, kind: RosterKind, year: int) -> int:
        return self._once(("editions", kind, year), lambda: db.session.scalar(
            sa.select(sa.func.count()).select_from(RosterEdition).where(
                RosterEdition.kind == kind, RosterEdition.period.like(f"{year}H%"),
                RosterEdition.status.in_((EditionStatus.PUBLISHED, EditionStatus.SUPERSEDED)))) or 0)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def figures_of(task: Task, figures: _Figures) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(key: str, label: str, value: str) -> None:
        rows.append({"key": key, "label": label, "value": value})

    for key in task.figures or []:
        if key == "rosters":
            for kind, period, size in figures.rosters():
                add(key, f"{kind.short_label}(现行版本)",
                    f"{size}家({period})" if period else "尚未发布")
        elif key == "meetings":
            for row in figures.rule():
                add(key, f"{figures.as_of.year}年{row.kind.label}", row.label)
            add(key, f"{figures.as_of.year}年已举办的成渝对接活动", f"{figures.meetings_held(figures.as_of.year)}场")
        elif key == "service":
            perf = figures.performance()
            add(key, "名单企业五类专员全覆盖",
                f"{perf['fully_covered']}/{perf['listed']}家({_percent(perf['coverage'])})")
            add(key, "本年办结诉求", f"{perf['requests_closed']}件")
            add(key, "逾期未办结诉求", f"{perf['requests_overdue']}件")
            add(key, "本年政策兑现", f"{perf['deliveries_delivered']}项")
        elif key in ("targets", "parks", "settled"):
            board = figures.board()
            if board is None:
                add(key, FIGURE_LABELS[key], "尚无目标")
                continue
            year = board["year"]
            if key == "targets":
                counties = [m.county.name for m in task.milestones if m.county is not None]
                units = [r for r in board["units"] if r["county"] in counties] or [board["city"]]
                for r in units:
                    add(key, f"{year}年{r['unit']}规上配套企业",
                        f"{r['actual_firms']}/{_number(r['target_firms'])}家({STATUS_TEXT.get(r['status_firms'])})")
                    add(key, f"{year}年{r['unit']}配套产值",
                        f"{_number(r['actual_output'])}/{_number(r['target_output'])}亿元"
                        f"({STATUS_TEXT.get(r['status_output'])})")
            else:
                number = board["parks" if key == "parks" else "settled_from_chengyu"]
                unit = "个" if key == "parks" else "家"
                add(key, f"{year}年{FIGURE_LABELS[key]}",
                    f"{number['actual']}/{_number(number['target'])}{unit}({STATUS_TEXT.get(number['status'])})")
        else:
            add(key, key, "—")
    return rows


def milestone_actual(metric: str | None, county: str | None, task: Task, year: int, figures: _Figures
                     ) -> int | float | None:
    if metric in ("firms", "output"):
        counted = figures.actuals(year)
        unit = counted["units"].get(county) if county else counted["city"]
        if unit is None:
            return 0
        # 产值 in 亿元 to two places, as the dashboard shows it (the sum of 万元 figures has many)
        return unit["firms"] if metric == "firms" else round(float(unit["output"]), 2)
    if metric in ("parks", "settled_from_chengyu"):
        return figures.actuals(year)[metric]
    if metric == "list_refresh" and task.number in LIST_OF_TASK and task.kind is TaskKind.TASK:
        return figures.editions_published(LIST_OF_TASK[task.number], year)
    if metric == "meetings":
        return figures.meetings_held(year)
    return None


# --- the report ----------------------------------------------------------------------------------------------

def situation_report(as_of: date) -> dict[str, Any]:
    """The report as of ``as_of`` (module docstring). Whole city: leaders, coordinators and admins read it."""
    settings = current_settings()
    cadence, grace = settings.cadence, settings.grace_working_days
    due = period_of(as_of, cadence).previous()
    deadline = due.deadline(grace)
    figures = _Figures(as_of)
    tasks = list(db.session.scalars(
        sa.select(Task).options(selectinload(Task.milestones)).order_by(Task.kind, Task.number)))
    tasks.sort(key=lambda t: (t.kind is not TaskKind.TASK, t.number))
    # the units' states exactly as the task ledger shows them (crm.tasks.domain.ledger_states)
    states = ledger_states(tasks, today=as_of) if tasks else {}
    today_items = list(db.session.scalars(
        sa.select(RectificationItem).join(SupervisionVisit)
        .options(selectinload(RectificationItem.supervision).selectinload(SupervisionVisit.task),
                 selectinload(RectificationItem.department))
        .where(RectificationItem.status.in_(OPEN_STATUSES))
        .order_by(RectificationItem.due_date, RectificationItem.id)))
    overdue_items = [i for i in today_items if i.due_date < as_of]

    totals = {"units": 0, "reported": 0, "pending": 0, "overdue": 0, "behind": 0, "items_overdue": len(overdue_items)}
    rows = []
    for task in tasks:
        units, late = [], []
        counts = {"units": 0, "reported": 0, "pending": 0, "overdue": 0, "behind": 0}
        for unit in states.get(task.id, []):
            name, report = unit.department.name, unit.latest
            state = {DUE: "pending", OVERDUE: "overdue"}.get(unit.state, "reported")
            units.append({
                "unit": name, "latest_period": report.period if report else None,
                "latest_status": report.status.value if report else None,
                "latest_status_label": report.status.label if report else None,
                "due_state": state, "due_state_label": STATE_LABELS[state]})
            counts["units"] += 1
            counts[state] += 1
            if state == "overdue":
                late.append(f"{name}:{due.label}进展报告逾期未报送(截止 {deadline.isoformat()})")
            if report is not None and report.status is ReportStatus.BEHIND:
                counts["behind"] += 1
                late.append(f"{name}:最近一期({report.period})报告进展滞后")
        task_items = [i for i in today_items if i.supervision.task_id == task.id]
        task_overdue = [i for i in task_items if i.due_date < as_of]
        for item in task_overdue:
            late.append(f"整改事项逾期:{item.department.name if item.department else '—'}“{_clip(item.description)}”"
                        f"(时限 {item.due_date.isoformat()})")
        milestones = []
        for m in task.milestones:
            year = min(m.due_on.year, as_of.year)
            actual = milestone_actual(m.metric, m.county.name if m.county else None, task, year, figures)
            target = None if m.target is None else (int(m.target) if m.target == int(m.target) else float(m.target))
            milestones.append({"due_on": m.due_on, "county": m.county.name if m.county else None, "text": m.text,
                               "metric": m.metric, "target": target, "actual": actual,
                               "met": None if actual is None or target is None else actual >= target})
        for name in counts:
            totals[name] += counts[name]
        rows.append({"id": task.id, "kind": task.kind.value, "number": task.number, "label": task.label,
                     "title": task.title, "section": task.section, "units": units, "counts": counts,
                     "figures": figures_of(task, figures), "milestones": milestones, "late": late,
                     "items": {"open": len(task_items), "overdue": len(task_overdue)}})
    return {
        "as_of": as_of, "year": as_of.year, "cadence": cadence.label, "grace_working_days": grace,
        "due_period": {"key": due.key, "label": due.label, "deadline": deadline},
        "target_year": figures.target_year(), "tasks": rows, "totals": totals,
        "overdue_items": [{
            "id": i.id, "unit": i.department.name if i.department else "—", "description": i.description,
            "due_date": i.due_date, "days_overdue": (as_of - i.due_date).days, "status_label": i.status.label,
            "visit": f"{i.supervision.visited_on.isoformat()} {i.supervision.subject}",
            "task": i.supervision.task.label if i.supervision.task else ""} for i in overdue_items],
    }


def _clip(text: str, limit: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the workbook --------------------------------------------------------------------------------------------

SUMMARY_COLUMNS = ("任务", "名称", "责任单位数", "已报送", "未报送", "逾期未报送", "进展滞后", "逾期整改事项",
                   "CRM 数据", "滞后情况")


def title(report: dict[str, Any]) -> str:
    return f"融入成渝地区双城经济圈工作方案落实情况报告({report['as_of'].isoformat()})"


def filename(report: dict[str, Any]) -> str:
    return f"工作方案落实情况_{report['as_of'].strftime('%Y%m%d')}.xlsx"


def xlsx(report: dict[str, Any]) -> bytes:
    """Four sheets: 汇总 (a row per task), 单位报送 (a row per task and unit), 里程碑, 逾期整改事项. Text cells."""
    wb = spreadsheet.new_workbook()
    due = report["due_period"]
    heading = f"{title(report)} · 应报期间 {due['label']}(截止 {due['deadline'].isoformat()})"
    table = spreadsheet.Table(
        wb, "汇总", SUMMARY_COLUMNS, title=heading,
        widths={"名称": 26, "CRM 数据": 60, "滞后情况": 60}, default_width=11)
    for t in report["tasks"]:
        c = t["counts"]
        table.append([t["label"], t["title"], c["units"], c["reported"], c["pending"], c["overdue"], c["behind"],
                      t["items"]["overdue"], ";".join(f"{f['label']}:{f['value']}" for f in t["figures"]),
                      ";".join(t["late"])])
    table.close()
    table = spreadsheet.Table(wb, "单位报送",
                              ("任务", "责任单位", "最近报告期间", "最近报告状态", f"{due['label']}报送"),
                              widths={"责任单位": 30}, default_width=16)
    for t in report["tasks"]:
        for u in t["units"]:
            table.append([t["label"], u["unit"], u["latest_period"] or "—", u["latest_status_label"] or "—",
                          u["due_state_label"]])
    table.close()
    table = spreadsheet.Table(wb, "里程碑", ("任务", "时间节点", "区县", "内容", "目标", "实际", "是否达成"),
                              widths={"内容": 60}, default_width=12)
    for t in report["tasks"]:
        for m in t["milestones"]:
            table.append([t["label"], m["due_on"].isoformat(), m["county"] or "", m["text"], _number(m["target"]),
                          _number(m["actual"]), {True: "已达成", False: "未达成", None: "—"}[m["met"]]])
    table.close()
    table = spreadsheet.Table(wb, "逾期整改事项",
                              ("责任单位", "整改事项", "整改时限", "逾期天数", "状态", "专项督导", "任务"),
                              widths={"整改事项": 50, "专项督导": 36}, default_width=12)
    for i in report["overdue_items"]:
        table.append([i["unit"], i["description"], i["due_date"].isoformat(), i["days_overdue"], i["status_label"],
                      i["visit"], i["task"]])
    table.close()
    return spreadsheet.workbook_bytes(wb)
