"""The jobs, defined in one place: id → what to call and when (Asia/Shanghai).

A job function has the signature ``func(fire_time: datetime) -> str``: it runs inside an app context, works
through ``db.session`` and never commits (the runner commits the job's work together with its claim, see
:mod:`crm.scheduler.runner`); it returns a short Chinese summary of what it did.

Functions are named by a dotted path and imported only when the job runs, so importing the registry (the admin
page, ``scheduler jobs``) does not import every domain module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

TIMEZONE = "Asia/Shanghai"

JobFunc = Callable[[datetime], str]


class UnknownJob(KeyError):
    """No job with that id in :data:`JOBS`."""

    def __init__(self, job_id: str):
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self) -> str:
        known = "、".join(sorted(JOBS)) or "(无)"
        return f"没有名为 {self.job_id!r} 的定时任务;已定义的任务:{known}"


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: str  # "package.module:function"
    trigger: CronTrigger
    description: str  # what it does, in Chinese
    schedule: str  # when it runs, in Chinese

    def load(self) -> JobFunc:
        """Import the job function (lazily: only when the job runs)."""
        module_name, _, attr = self.func.partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr)


def cron(**fields: str | int) -> CronTrigger:
    return CronTrigger(timezone=TIMEZONE, **fields)


def _spec(job_id: str, func: str, trigger: CronTrigger, description: str, schedule: str) -> tuple[str, JobSpec]:
    return job_id, JobSpec(job_id, func, trigger, description, schedule)


JOBS: dict[str, JobSpec] = dict([
    _spec("open_half_year_refresh", "crm.rosters.jobs:open_half_year_refresh",
          cron(month="1,7", day=1, hour=0, minute=5),
          "半年更新:为两份名单(配套企业名单、重点企业培育库)开启新半年的草稿,并通知协调员",
          "每年1月1日、7月1日 00:05"),
    _spec("refresh_deadline_reminder", "crm.rosters.jobs:refresh_deadline_reminder",
          cron(hour=8, minute=30),
          "更新截止提醒:草稿在截止日期前 N 个工作日仍未发布时提醒协调员",
          "每天 08:30"),
    _spec("escalate_overdue_requests", "crm.service.jobs:escalate_overdue_requests",
          cron(hour=8, minute=0),
          "诉求逾期升级:逾期未办结的诉求先提醒负责人,超过宽限工作日仍未办结的通知所在区县协调员",
          "每天 08:00"),
    _spec("policy_delivery_overdue", "crm.service.jobs:policy_delivery_overdue",
          cron(hour=8, minute=10),
          "政策兑现逾期提醒:超过承诺兑现日期仍未兑现的,提醒负责人(无负责人时为服务专员)及所在区县协调员",
          "每天 08:10"),
    _spec("visit_cadence", "crm.service.jobs:visit_cadence",
          cron(day_of_week="mon", hour=8, minute=20),
          "走访频次提醒:已分配服务专员、超过 N 天无服务记录的企业,按专员汇总提醒",
          "每周一 08:20"),
    # Cron cannot say "the first working day of the year": it fires daily from 1 to 15 January and the job works
    # only from that day on; the year is claimed once, so later fires add nothing.
    _spec("plan_annual_meetings", "crm.meetings.jobs:plan_annual_meetings",
          cron(month=1, day="1-15", hour=9, minute=0),
          "年度会议计划:当年第一个工作日,为尚未安排的必办会议(产销对接会、企业家座谈会、供应链洽谈会等)"
          "各拟定一场成渝地区的会议,并通知协调员",
          "每年1月1日至15日每天 09:00(当年第一个工作日起执行,每年只拟定一次)"),
    _spec("meeting_reminders", "crm.meetings.jobs:meeting_reminders",
          cron(hour=8, minute=40),
          "会议提醒:计划中或已确定的会议开始前若干天(默认 7 天和 1 天),提醒参会人员及参会企业的服务专员",
          "每天 08:40"),
    _spec("sweep_roster_imports", "crm.rosters.jobs:sweep_roster_imports",
          cron(minute="*"),
          "名单导入巡检:排队过久无人接手的导入(其网页进程已重启)交给导入线程执行;超过时限无进展的导入标记为失败并说明原因",
          "每分钟"),
    _spec("purge_sessions", "crm.auth.jobs:purge_sessions",
          cron(hour=3, minute=20),
          "清理登录会话:删除已退出或已过期超过 30 天的登录会话记录(有效会话不受影响)",
          "每天 03:20"),
    _spec("snapshot_targets", "crm.dashboard.jobs:snapshot_targets",
          cron(month=1, day=1, hour=0, minute=30),
          "年度目标冻结:冻结已结束目标年度的完成情况及当时的统计口径,此后档案变动不再影响该年度结果",
          "每年1月1日 00:30"),
    _spec("rectification_overdue", "crm.tasks.supervision_jobs:rectification_overdue",
          cron(hour=8, minute=50),
          "整改事项逾期提醒:专项督导的整改事项超过整改时限仍未完成的,通知责任单位联络员和协调员(每项只提醒一次)",
          "每天 08:50"),
    _spec("task_report_reminders", "crm.tasks.jobs:remind_task_reports",
          cron(hour=9, minute=10),
          "进展报告提醒:上一报送期结束后,提醒尚未报送的责任单位联络员;超过宽限工作日仍未报送的,汇总上报全市协调员",
          "每天 09:10(仅工作日)"),
])


def get_job(job_id: str) -> JobSpec:
    try:
        return JOBS[job_id]
    except KeyError:
        raise UnknownJob(job_id) from None
