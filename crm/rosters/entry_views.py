"""One entry of a roster edition (blueprint ``rosters``): add an enterprise to a draft, change its reason and
tier, remove it with a reason.

Each view loads the edition and the enterprise and checks access (:func:`crm.rosters.views._load_edition`), calls
:mod:`crm.rosters.domain` through :func:`crm.core.pages.attempt` (one commit) and redirects to the edition, or
shows the form again with the refusal next to its field. A refusal the form cannot show (a frozen edition) is
flashed on the edition's page.
"""

from __future__ import annotations

from flask import abort, redirect, render_template, request
from flask_login import current_user, login_required

from crm.core.access import Action
from crm.core.pages import attempt, page
from crm.enterprises.models import Enterprise
from crm.rosters import domain
from crm.rosters.forms import EntryForm, RemoveEntryForm
from crm.rosters.models import RosterEdition, RosterEntry
from crm.rosters.views import _editable, _edition_url, _load_edition, _load_enterprise, _refused_form, bp


@bp.route("/<kind>/<period>/entries/add/<int:enterprise_id>", methods=["GET", "POST"])
@login_required
@page
def entry_add(kind: str, period: str, enterprise_id: int):
    edition = _load_edition(kind, period, Action.EDIT)
    enterprise = _load_enterprise(enterprise_id)
    form = EntryForm.for_edition(edition)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            added = attempt(lambda: domain.add_entry(current_user, edition, enterprise, form.reason.data,
                                                     form.tier_value()), form, validate=False, show="form_or_flash",
                            success=f"已将“{enterprise.name}”加入{domain.period_label(edition.period)}版本")
            if added or added.flashed:
                return redirect(_edition_url(edition))
            status = added.status
        else:
            refused = _refused_form(edition, form)
            if refused is not None:
                return refused
            status = 422
    existing = domain.entry_for(edition, enterprise.id)
    return render_template("rosters/entry.html", edition=edition, kind=edition.kind, enterprise=enterprise,
                           entry=existing, adding=True, form=form, remove_form=None,
                           editable=_editable(edition)), status


def _load_entry(kind: str, period: str, enterprise_id: int) -> tuple[RosterEdition, Enterprise, RosterEntry]:
    edition = _load_edition(kind, period, Action.EDIT)
    enterprise = _load_enterprise(enterprise_id)
    entry = domain.entry_for(edition, enterprise.id)
    if entry is None:
        abort(404)
    return edition, enterprise, entry


def _render_entry(edition: RosterEdition, enterprise: Enterprise, entry: RosterEntry, *, form: EntryForm,
                  remove_form: RemoveEntryForm, status: int = 200):
    return render_template("rosters/entry.html", edition=edition, kind=edition.kind, enterprise=enterprise,
                           entry=entry, adding=False, form=form, remove_form=remove_form,
                           editable=_editable(edition)), status


@bp.route("/<kind>/<period>/entries/<int:enterprise_id>", methods=["GET", "POST"])
@login_required
@page
def entry(kind: str, period: str, enterprise_id: int):
    edition, enterprise, current = _load_entry(kind, period, enterprise_id)
    form = EntryForm.for_edition(edition, current if request.method == "GET" else None)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            saved = attempt(lambda: domain.update_entry(current_user, edition, enterprise, reason=form.reason.data,
                                                        tier=form.tier_value()), form, validate=False,
                            show="form_or_flash", success=f"已保存“{enterprise.name}”的入库信息")
            if saved or saved.flashed:
                return redirect(_edition_url(edition))
            status = saved.status
        else:
            refused = _refused_form(edition, form)
            if refused is not None:
                return refused
            status = 422
    return _render_entry(edition, enterprise, current, form=form, remove_form=RemoveEntryForm(), status=status)


@bp.route("/<kind>/<period>/entries/<int:enterprise_id>/remove", methods=["POST"])
@login_required
@page
def entry_remove(kind: str, period: str, enterprise_id: int):
    edition, enterprise, current = _load_entry(kind, period, enterprise_id)
    remove_form = RemoveEntryForm()
    status = 422
    if remove_form.validate_on_submit():
        removed = attempt(lambda: domain.remove_entry(current_user, edition, enterprise,
                                                      remove_form.removal_reason.data),
                          remove_form, validate=False, show="form_or_flash", aliases={"reason": "removal_reason"},
                          success=f"已将“{enterprise.name}”移出{domain.period_label(edition.period)}版本")
        if removed or removed.flashed:
            return redirect(_edition_url(edition))
        status = removed.status
    else:
        refused = _refused_form(edition, remove_form)
        if refused is not None:
            return refused
    return _render_entry(edition, enterprise, current, form=EntryForm.for_edition(edition, current, formdata=None),
                         remove_form=remove_form, status=status)
