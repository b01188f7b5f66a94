"""Admin page of the scheduler: the jobs with their next fire time, and the recorded runs."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from crm.core.access import Action, require
from crm.core.errors import DomainError
from crm.core.pages import page
from crm.core.pagination import paginate, parse_page_args
from crm.scheduler import registry
from crm.scheduler.models import RunOutcome
from crm.scheduler.runner import job_rows, runs_statement

bp = Blueprint("scheduler", __name__, url_prefix="/admin/scheduler")

OUTCOME_BADGES = {RunOutcome.SUCCESS: "text-bg-success", RunOutcome.FAILED: "text-bg-danger",
                  RunOutcome.SKIPPED: "text-bg-secondary"}


@bp.route("/")
@login_required
@page
def index():
    require(current_user, Action.MANAGE_USERS)
    status = 200
    page_error: DomainError | None = None
    try:
        page_no, per_page = parse_page_args(request.args)
    except DomainError as err:
        page_error, status = err, 400
        page_no, per_page = 1, current_app.config["PER_PAGE_DEFAULT"]
    job_filter = request.args.get("job", "").strip()
    outcome_filter = request.args.get("outcome", "").strip()
    outcome = RunOutcome.find(outcome_filter)
    if outcome is None:
        outcome_filter = ""
    page = paginate(runs_statement(job_filter or None, outcome), page_no, per_page)
    link_args = {k: v for k, v in {"job": job_filter, "outcome": outcome_filter}.items() if v}
    if request.args.get("per_page") and page_error is None:
        link_args["per_page"] = per_page
    return render_template(
        "scheduler/index.html", jobs=job_rows(), page=page, link_args=link_args, page_error=page_error,
        job_filter=job_filter, outcome_filter=outcome_filter, job_ids=list(registry.JOBS),
        OUTCOME_BADGES=OUTCOME_BADGES, RunOutcome=RunOutcome,
    ), status
