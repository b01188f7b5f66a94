"""The upkeep pages of the reference data (blueprint ``reference``, ``/reference/…``): parks, departments and the
plan's targets. Admins and city-wide coordinators change them, with audit and versions; county coordinators and
leaders read them; commissioners are refused (:mod:`crm.reference.access`)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crm.core.audit import AuditEntity, AuditLog
from crm.core.errors import Forbidden
from crm.core.messages import STALE_MESSAGE
from crm.core.pages import attempt, load, page
from crm.core.transactions import lock_for_update
from crm.extensions import db
from crm.reference import domain
from crm.reference.access import keeps_reference, reads_upkeep
from crm.reference.forms import DepartmentForm, ParkForm, PlanTargetForm, TargetForm
from crm.reference.models import County, Department, Park, PlanTarget, Target

bp = Blueprint("reference", __name__, url_prefix="/reference")


@bp.before_request
@login_required
def _readers_only():
    if not reads_upkeep(current_user):
        raise Forbidden("园区、责任单位和目标由管理员和协调员维护,服务专员无权查看本页")


def _history(entity: AuditEntity, entity_id: int, *, plan: bool | None = None) -> list[AuditLog]:
    """The record's audit rows, newest first. Targets and plan targets share the entity ``target``: a plan
    target's rows name their ``metric``, a target's their ``unit``."""
    rows = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == entity, AuditLog.entity_id == entity_id)
                              .order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(200))
    return [row for row in rows if plan is None or ("metric" in (row.changes or {})) is plan][:50]


def _require_keeper() -> None:
    if not keeps_reference(current_user):
        raise Forbidden("只有管理员和市级协调员可以维护园区、责任单位和目标")


# --- parks -----------------------------------------------------------------------------------------------------

@bp.route("/parks")
@login_required
@page
def parks():
    rows = list(db.session.scalars(sa.select(Park).outerjoin(County, Park.county_id == County.id)
                                   .order_by(Park.is_demo, County.sort_order, Park.id)))
    return render_template("reference/parks.html", parks=rows, may_keep=keeps_reference(current_user))


@bp.route("/parks/new", methods=["GET", "POST"])
@login_required
@page
def park_new():
    _require_keeper()
    form = ParkForm()
    saved = attempt(lambda: domain.create_park(current_user, form.to_data()), form,
                    success=lambda p: f"已新增园区 {p.name}")
    if saved:
        return redirect(url_for(".parks"))
    return render_template("reference/park_form.html", form=form, park=None, history=[]), saved.status


@bp.route("/parks/<int:park_id>/edit", methods=["GET", "POST"])
@login_required
@page
def park_edit(park_id: int):
    park = load(Park, park_id)
    editable = keeps_reference(current_user)
    form = ParkForm(data=ParkForm.initial(park) if request.method == "GET" else None)
    if request.method == "POST":
        _require_keeper()
        saved = attempt(lambda: domain.update_park(current_user, lock_for_update(Park, park_id), form.to_data(),
                                                   version=form.version.data),
                        form, conflict=STALE_MESSAGE, success="园区信息已保存")
        if saved:
            return redirect(url_for(".parks"))
        status = saved.status
    else:
        status = 200
    return render_template("reference/park_form.html", form=form, park=park, editable=editable,
                           history=_history(AuditEntity.PARK, park_id)), status


# --- departments -----------------------------------------------------------------------------------------------

@bp.route("/departments", methods=["GET", "POST"])
@login_required
@page
def departments():
    form = DepartmentForm()
    if request.method == "POST":
        _require_keeper()
        saved = attempt(lambda: domain.create_department(current_user, form.name.data), form,
                        success=lambda d: f"已新增责任单位 {d.name}")
        if saved:
            return redirect(url_for(".departments"))
        status = saved.status
    else:
        status = 200
    rows = list(db.session.scalars(sa.select(Department).order_by(Department.sort_order, Department.id)))
    return render_template("reference/departments.html", departments=rows, form=form,
                           may_keep=keeps_reference(current_user)), status


@bp.route("/departments/<int:department_id>/edit", methods=["GET", "POST"])
@login_required
@page
def department_edit(department_id: int):
    department = load(Department, department_id)
    form = DepartmentForm(data={"name": department.name, "version": str(department.version)}
                          if request.method == "GET" else None)
    if request.method == "POST":
        _require_keeper()
        saved = attempt(lambda: domain.rename_department(current_user, lock_for_update(Department, department_id),
                                                         form.name.data, version=form.version.data),
                        form, conflict=STALE_MESSAGE, success="责任单位已保存")
        if saved:
            return redirect(url_for(".departments"))
        status = saved.status
    else:
        status = 200
    return render_template("reference/department_form.html", form=form, department=department,
                           editable=keeps_reference(current_user),
                           history=_history(AuditEntity.DEPARTMENT, department_id)), status


# --- targets ---------------------------------------------------------------------------------------------------

@bp.route("/targets")
@login_required
@page
def targets():
    years = domain.target_years()
    rows = list(db.session.scalars(sa.select(Target).outerjoin(County, Target.county_id == County.id)
                                   .order_by(Target.year, Target.county_id.is_not(None), County.sort_order)))
    plan = list(db.session.scalars(sa.select(PlanTarget).order_by(PlanTarget.year, PlanTarget.metric)))
    problems = {year: domain.targets_add_up(year) for year in years}
    return render_template("reference/targets.html", years=years, rows=rows, plan=plan, problems=problems,
                           metrics=domain.PLAN_METRICS, unit_name=domain.unit_name,
                           may_keep=keeps_reference(current_user))


@bp.route("/targets/<int:target_id>/edit", methods=["GET", "POST"])
@login_required
@page
def target_edit(target_id: int):
    target = load(Target, target_id)
    _require_keeper()
    form = TargetForm(data={"target_firms": str(target.target_firms), "target_output": str(target.target_output),
                            "version": str(target.version)} if request.method == "GET" else None)
    saved = attempt(lambda: domain.update_target(current_user, lock_for_update(Target, target_id), form.to_data(),
                                                 version=form.version.data),
                    form, conflict=STALE_MESSAGE, success="目标已保存")
    if saved:
        return redirect(url_for(".targets", _anchor=f"year-{target.year}"))
    return render_template("reference/target_form.html", form=form,
                           title=f"{target.year}年 {domain.unit_name(target)}",
                           history=_history(AuditEntity.TARGET, target_id, plan=False)), saved.status


@bp.route("/plan-targets/<int:plan_target_id>/edit", methods=["GET", "POST"])
@login_required
@page
def plan_target_edit(plan_target_id: int):
    plan_target = load(PlanTarget, plan_target_id)
    _require_keeper()
    form = PlanTargetForm(data={"target": str(plan_target.target), "version": str(plan_target.version)}
                          if request.method == "GET" else None)
    saved = attempt(lambda: domain.update_plan_target(current_user, lock_for_update(PlanTarget, plan_target_id),
                                                      {"target": form.target.data}, version=form.version.data),
                    form, conflict=STALE_MESSAGE, success="目标已保存")
    if saved:
        return redirect(url_for(".targets", _anchor=f"year-{plan_target.year}"))
    label = domain.PLAN_METRICS.get(plan_target.metric, plan_target.metric)
    return render_template("reference/target_form.html", form=form, title=f"{plan_target.year}年 {label}",
                           history=_history(AuditEntity.TARGET, plan_target_id, plan=True)), saved.status
