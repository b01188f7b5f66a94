"""Roster pages: the published lists, each list's editions, one edition (entries, review, import), the diff
between two editions, the Excel downloads and the import's progress; one entry's pages (add, change, remove) are
in :mod:`crm.rosters.entry_views`, on the same blueprint.

Each view loads, asks ``access.require``, calls a ``crm.rosters.domain`` (or ``exports``/``imports``) function,
commits once and renders or redirects. The rules live in the domain: a frozen edition refuses every change
there, whatever the page shows. A refused change is rolled back whole; its message goes next to its field when
the page shows that field, and is flashed otherwise. Nothing here answers 500 for a refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from crm.core import spreadsheet
from crm.core.access import Action, can, require, scope
from crm.core.errors import DomainError, ValidationFailed
from crm.core.messages import FORM_EXPIRED
from crm.core.pages import attempt, csrf_failed, flash_error, load, page
from crm.core.pagination import Page, paginate, parse_page_args
from crm.core.parsing import clean_filename
from crm.core.time import utcnow
from crm.enterprises.domain import search_statement
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.rosters import domain, exports, import_jobs, imports
from crm.rosters.forms import (
    ConfirmForm,
    DiffForm,
    EnterpriseSearchForm,
    FilterForm,
    ImportForm,
    OpenEditionForm,
    ReturnForm,
)
from crm.rosters.models import (
    EditionStatus,
    ImportStatus,
    RosterEdition,
    RosterEntry,
    RosterImport,
    RosterKind,
    Tier,
)

log = logging.getLogger(__name__)

bp = Blueprint("rosters", __name__, url_prefix="/rosters")

SEARCH_LIMIT = 20
RECENT_IMPORTS = 5
IMPORT_STATUS_STYLES = {
    ImportStatus.QUEUED: "text-bg-secondary",
    ImportStatus.CHECKING: "text-bg-info",
    ImportStatus.FAILED: "text-bg-danger",
    ImportStatus.DONE: "text-bg-success",
    ImportStatus.ERROR: "text-bg-danger",
}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"period_label": domain.period_label, "RosterKind": RosterKind, "EditionStatus": EditionStatus, "Tier": Tier,
            "IMPORT_STATUS_STYLES": IMPORT_STATUS_STYLES}


# --- loading and checking ----------------------------------------------------------------------------------

def _kind(kind: str) -> RosterKind:
    return domain.parse_kind(kind)  # NotFound (404) for an unknown list


def _load_edition(kind: str, period: str, action: Action = Action.VIEW) -> RosterEdition:
    """The edition, if the user may do ``action`` to it: 404 when they may not even see it, 403 otherwise."""
    try:
        edition = domain.get_edition(_kind(kind), period)
    except ValidationFailed:  # a malformed period in the address: no such page
        abort(404)
    require(current_user, action, edition)
    return edition


def _load_enterprise(enterprise_id: int) -> Enterprise:
    """An enterprise the user may change (a county coordinator: only their county's); 404 otherwise."""
    return load(Enterprise, enterprise_id, Action.EDIT)


def _load_import(import_id: int) -> RosterImport:
    """An import report: its author, city-wide coordinators and admins read it; anyone else gets 404, the
    answer of a missing report (``crm.rosters.access``)."""
    return load(RosterImport, import_id, Action.VIEW)


def _edition_url(edition: RosterEdition, anchor: str | None = None) -> str:
    return url_for("rosters.edition", kind=edition.kind.value, period=edition.period, _anchor=anchor)


def _editable(edition: RosterEdition) -> bool:
    """Whether the page offers write controls (the domain refuses regardless of what the page shows)."""
    return edition.status is EditionStatus.DRAFT and can(current_user, Action.EDIT, edition)


def _visible_enterprise_ids(ids: list[int]) -> set[int]:
    """Which of these enterprises the user may open (one query, so a long list stays free of N+1)."""
    if not ids:
        return set()
    stmt = scope(current_user, Enterprise, sa.select(Enterprise.id).where(Enterprise.id.in_(ids)))
    return set(db.session.scalars(stmt))


def _page_args() -> tuple[int, int, DomainError | None]:
    try:
        page_no, per_page = parse_page_args(request.args)
    except DomainError as err:
        return 1, current_app.config["PER_PAGE_DEFAULT"], err
    return page_no, per_page, None


def _entries_page(edition: RosterEdition, base_args: dict[str, str]) -> dict[str, Any]:
    """The filtered, paginated entries of an edition, with what the table needs; ``base_args`` address the page."""
    filter_form = FilterForm(formdata=request.args)
    filter_form.fill_choices()
    filters = filter_form.filters()
    page_no, per_page, page_error = _page_args()
    page: Page = paginate(domain.entries_statement(edition, **filters), page_no, per_page)
    link_args: dict[str, Any] = {**base_args, **{k: v for k, v in filters.items() if v}}
    if request.args.get("per_page") and page_error is None:
        link_args["per_page"] = per_page
    return {"filter_form": filter_form, "page": page, "link_args": link_args, "page_error": page_error,
            "filtered": any(filters.values()), "reset_args": base_args, "counts": domain.counts_by_county(edition),
            "visible_ids": _visible_enterprise_ids([e.enterprise_id for e in page.items])}


# --- the published lists -------------------------------------------------------------------------------------

@bp.route("/")
@login_required
@page
def index():
    kind = _kind(request.args.get("kind") or RosterKind.SUPPLIER_LIST.value)
    published = {k: domain.latest_published(k) for k in RosterKind}
    totals = {k: sum(n for _, n in domain.counts_by_county(e)) if e else 0 for k, e in published.items()}
    pending = {k: [e for e in domain.editions(k) if not e.frozen and can(current_user, Action.VIEW, e)]
               for k in RosterKind}
    edition = published[kind]
    context: dict[str, Any] = {}
    if edition is not None:
        context = _entries_page(edition, {"kind": kind.value})
    return render_template("rosters/index.html", kind=kind, edition=edition, published=published,
                           totals=totals, pending=pending, **context), 400 if context.get("page_error") else 200


# --- a list's editions ---------------------------------------------------------------------------------------

@bp.route("/<kind>/", methods=["GET", "POST"])
@login_required
@page
def editions(kind: str):
    roster = _kind(kind)
    if request.method == "POST":
        require(current_user, Action.PUBLISH)
    form = OpenEditionForm() if can(current_user, Action.PUBLISH) else None
    status = 200
    if form is not None and request.method == "POST":
        opened = attempt(lambda: domain.open_edition(current_user, roster, form.period.data), form, invalid=None)
        if opened:
            edition = domain.get_edition(roster, form.period.data)
            based_on = domain.period_label(edition.based_on.period) if edition.based_on else "空名单"
            flash(f"已开启{roster.label}{domain.period_label(edition.period)}的更新草稿"
                  f"({len(edition.entries)}家,基于{based_on})", "success")
            return redirect(_edition_url(edition))
        status = opened.status
    elif form is not None and not form.period.data:
        form.period.data = _suggested_period(roster)
    rows = [e for e in domain.editions(roster) if can(current_user, Action.VIEW, e)]
    counts = dict(db.session.execute(
        sa.select(RosterEntry.edition_id, sa.func.count(RosterEntry.id))
        .where(RosterEntry.edition_id.in_([e.id for e in rows])).group_by(RosterEntry.edition_id)).all())
    return render_template("rosters/editions.html", kind=roster, editions=rows, counts=counts, form=form), status


def _suggested_period(kind: RosterKind) -> str:
    """The current half year, or the next one when the current one is already open."""
    current = domain.period_of(utcnow())
    return current if domain.find_edition(kind, current) is None else domain.next_period(current)


# --- one edition ---------------------------------------------------------------------------------------------

def _render_edition(edition: RosterEdition, *, status: int = 200, return_form: ReturnForm | None = None,
                    import_form: ImportForm | None = None):
    context = _entries_page(edition, {"kind": edition.kind.value, "period": edition.period})
    editable = _editable(edition)
    may_review = can(current_user, Action.PUBLISH, edition)
    search_form = search_results = None
    present: set[int] = set()
    if editable:
        search_form = EnterpriseSearchForm(formdata=request.args)
        q = (search_form.q.data or "").strip()
        if q:
            search_results = list(db.session.scalars(search_statement(current_user, q=q).limit(SEARCH_LIMIT)))
            present = set(db.session.scalars(sa.select(RosterEntry.enterprise_id).where(
                RosterEntry.edition_id == edition.id,
                RosterEntry.enterprise_id.in_([e.id for e in search_results]))))
    imports: list[RosterImport] = []
    if can(current_user, Action.EDIT, edition):
        imports = list(db.session.scalars(scope(
            current_user, RosterImport, sa.select(RosterImport).where(RosterImport.edition_id == edition.id))
            .order_by(RosterImport.created_at.desc(), RosterImport.id.desc()).limit(RECENT_IMPORTS)))
    if context["page_error"] is not None and status == 200:
        status = 400
    return render_template(
        "rosters/edition.html", edition=edition, kind=edition.kind, editable=editable, may_review=may_review,
        search_form=search_form, search_results=search_results, present=present, search_limit=SEARCH_LIMIT,
        return_form=return_form or ReturnForm(), import_form=import_form or ImportForm(), confirm=ConfirmForm(),
        imports=imports, **context), status


@bp.route("/<kind>/<period>")
@login_required
@page
def edition(kind: str, period: str):
    loaded = _load_edition(kind, period)
    if loaded.period != period:  # 2026h1 → the canonical address
        return redirect(url_for("rosters.edition", kind=loaded.kind.value, period=loaded.period, **request.args))
    return _render_edition(loaded)


def _review_action(kind: str, period: str, action: Callable[[RosterEdition], Any], success: str):
    """Submit and publish: a button (CSRF only), the domain decides."""
    edition = _load_edition(kind, period, Action.PUBLISH)
    attempt(lambda: action(edition), ConfirmForm(), show="flash",
            success=success.format(label=domain.period_label(edition.period)))
    return redirect(_edition_url(edition))


@bp.route("/<kind>/<period>/submit", methods=["POST"])
@login_required
@page
def submit(kind: str, period: str):
    return _review_action(kind, period, lambda e: domain.submit(current_user, e), "{label}版本已提交审核")


@bp.route("/<kind>/<period>/publish", methods=["POST"])
@login_required
@page
def publish(kind: str, period: str):
    return _review_action(kind, period, lambda e: domain.publish(current_user, e),
                          "{label}版本已发布,上一期已标记为被替代")


@bp.route("/<kind>/<period>/return", methods=["POST"])
@login_required
@page
def return_edition(kind: str, period: str):
    edition = _load_edition(kind, period, Action.PUBLISH)
    form = ReturnForm()
    form.validate_on_submit()
    if csrf_failed(form):
        flash(FORM_EXPIRED, "danger")
        return redirect(_edition_url(edition))
    # The domain checks the state before the comment, so a frozen edition answers with its own message.
    returned = attempt(lambda: domain.return_edition(current_user, edition, form.comment.data), form,
                       validate=False, show="form_or_flash",
                       success=f"{domain.period_label(edition.period)}版本已退回修改")
    if returned or returned.flashed:
        return redirect(_edition_url(edition))
    return _render_edition(edition, status=returned.status, return_form=form)


# --- refusals before the domain call (entry forms, the import) ----------------------------------------------

def _state_refusal(edition: RosterEdition) -> DomainError | None:
    """The domain's refusal for the edition's state (frozen, in review), if any: it wins over form errors."""
    try:
        domain.ensure_editable(edition)
    except DomainError as err:
        return err
    return None


def _refused_form(edition: RosterEdition, form: FlaskForm):
    """A form that failed validation: an expired page, or an edition that takes no change at all, answers with a
    flash and a redirect (the form would not even be shown). None: show the form's own errors."""
    if csrf_failed(form):
        flash(FORM_EXPIRED, "danger")
    else:
        refusal = _state_refusal(edition)
        if refusal is None:
            return None
        flash_error(refusal)
    return redirect(_edition_url(edition))


# --- Excel ---------------------------------------------------------------------------------------------------

@bp.route("/<kind>/<period>/export.xlsx")
@login_required
@page
def export_xlsx(kind: str, period: str):
    edition = _load_edition(kind, period)
    # streamed from a temporary file: the worker's memory does not grow with the edition (issue 11)
    return spreadsheet.download_file(exports.export_xlsx_file(edition), spreadsheet.XLSX_MIMETYPE,
                                     exports.export_filename(edition, "xlsx"))


@bp.route("/<kind>/<period>/export.csv")
@login_required
@page
def export_csv(kind: str, period: str):
    edition = _load_edition(kind, period)
    return spreadsheet.download(exports.export_csv(edition), spreadsheet.CSV_MIMETYPE,
                                exports.export_filename(edition, "csv"))


@bp.route("/<kind>/template.xlsx")
@login_required
@page
def template_xlsx(kind: str):
    roster = _kind(kind)
    return spreadsheet.download(exports.template_xlsx(roster), spreadsheet.XLSX_MIMETYPE,
                                exports.template_filename(roster))


@bp.route("/<kind>/<period>/import", methods=["POST"])
@login_required
@page
def import_file(kind: str, period: str):
    edition = _load_edition(kind, period, Action.EDIT)
    form = ImportForm()
    valid = form.validate_on_submit()
    refusal = _state_refusal(edition)  # a frozen edition refuses even a valid file, before it is read
    if not valid or refusal is not None:
        return _refused_form(edition, form) or _render_edition(edition, status=422, import_form=form)
    upload = form.file.data
    filename = clean_filename(upload.filename or "import.xlsx")
    data = upload.read()
    try:
        imports.check_file(filename, data)
    except DomainError as err:
        db.session.rollback()
        form.file.errors = [err.fields.get("file", err.message)]
        return _render_edition(edition, status=err.status, import_form=form)
    queued = attempt(lambda: import_jobs.queue_import(current_user, edition, filename, data).id)
    if not queued:
        return redirect(_edition_url(edition))
    # Committed with its file: if this worker is recycled before its pool takes the import, the scheduler's
    # sweep does (crm.rosters.import_jobs). Under test it runs here, synchronously.
    import_jobs.start(queued.value)
    return redirect(url_for("rosters.import_status", import_id=queued.value))


@bp.route("/imports/<int:import_id>")
@login_required
@page
def import_status(import_id: int):
    record = _load_import(import_id)
    report = sorted(record.report or [], key=lambda p: (p.get("row") or 0, str(p.get("field") or "")))
    return render_template("rosters/import.html", record=record, edition=record.edition, kind=record.edition.kind,
                           report=report)


@bp.route("/imports/<int:import_id>.json")
@login_required
@page
def import_status_json(import_id: int):
    record = _load_import(import_id)
    response = jsonify({
        "id": record.id, "status": record.status.value, "status_label": record.status.label,
        "rows_total": record.rows_total, "rows_checked": record.rows_checked, "rows_written": record.rows_written,
        "problems": len(record.report or []), "finished": record.status not in import_jobs.RUNNING,
    })
    response.headers["Cache-Control"] = "no-store"
    return response


# --- diff ----------------------------------------------------------------------------------------------------

# Each section of the diff is paged on its own (issue 11: two 20,000-entry editions differ by 1,600 enterprises, a
# 437 KB page): the counts of all three are on top, a section shows PER_PAGE_DEFAULT rows and its own 上一页/下一页
# (``added_page``, ``removed_page``, ``tier_page``, the other sections' pages kept), and the whole diff is one
# click away as an XLSX (``diff.xlsx``, streamed).
DIFF_PAGE_ARGS = {"added": "added_page", "removed": "removed_page", "tier_changed": "tier_page"}
DIFF_ANCHORS = {"added": "added", "removed": "removed", "tier_changed": "tier"}


def _diff_periods(rows: list[RosterEdition], form: DiffForm) -> tuple[dict[str, str] | None, int]:
    """The two periods chosen on ``form`` if both are editions the user may view: ``(periods, 200)``; otherwise
    ``(None, status)`` with the errors on the form (none chosen: ``(None, 200)``)."""
    periods = {e.period for e in rows}
    chosen = {"from_period": form.from_period.data or "", "to_period": form.to_period.data or ""}
    if all(chosen.values()):
        status = 200
        for name, value in chosen.items():
            if value not in periods:
                getattr(form, name).errors = ["没有该期次,或您无权查看"]
                status = 404
        return (chosen, 200) if status == 200 else (None, status)
    if any(chosen.values()):
        form.form_errors.append("请选择要比较的两个期次")
        return None, 400
    return None, 200


def _diff_form(roster: RosterKind) -> tuple[DiffForm, list[RosterEdition]]:
    rows = [e for e in domain.editions(roster) if can(current_user, Action.VIEW, e)]
    form = DiffForm(formdata=request.args if request.args else None)
    form.fill_choices(rows)
    if not request.args and len(rows) >= 2:
        form.from_period.data, form.to_period.data = rows[1].period, rows[0].period
    return form, rows


def _diff_pages(result: domain.Diff) -> tuple[dict[str, Page], DomainError | None]:
    """One page of each section (``added_page`` … from the address; a malformed one: page 1 and the error)."""
    per_page = current_app.config["PER_PAGE_DEFAULT"]
    pages: dict[str, Page] = {}
    error: DomainError | None = None
    for section, arg in DIFF_PAGE_ARGS.items():
        number = 1
        if arg in request.args:
            try:
                number, _ = parse_page_args({"page": request.args[arg]}, per_page)
            except DomainError as err:
                error = error or err
        items = result.section(section)
        number = min(number, max(1, -(-len(items) // per_page)))  # past the end (the diff shrank): its last page
        pages[section] = Page(items=items[(number - 1) * per_page:number * per_page], total=len(items),
                              page=number, per_page=per_page)
    return pages, error


@bp.route("/<kind>/diff")
@login_required
@page
def diff(kind: str):
    roster = _kind(kind)
    form, rows = _diff_form(roster)
    chosen, status = _diff_periods(rows, form)
    result = None
    pages: dict[str, Page] = {}
    page_error: DomainError | None = None
    if chosen is not None:
        try:
            result = domain.diff(roster, chosen["from_period"], chosen["to_period"])
        except DomainError as err:
            db.session.rollback()
            flash(err.message, "danger")
            status = err.status
    visible: set[int] = set()
    link_args: dict[str, Any] = {}
    if result is not None:
        pages, page_error = _diff_pages(result)
        if page_error is not None:
            status = 400
        visible = _visible_enterprise_ids([item["enterprise_id"] for p in pages.values() for item in p.items])
        link_args = {"kind": roster.value, "from": result.from_period, "to": result.to_period,
                     **{DIFF_PAGE_ARGS[s]: p.page for s, p in pages.items() if p.page > 1}}
    return render_template("rosters/diff.html", kind=roster, form=form, result=result, pages=pages,
                           page_error=page_error, link_args=link_args, page_args=DIFF_PAGE_ARGS,
                           anchors=DIFF_ANCHORS, visible_ids=visible, editions=rows), status


@bp.route("/<kind>/diff.xlsx")
@login_required
@page
def diff_xlsx(kind: str):
    """The whole diff (every section, every row) as an XLSX, streamed: what the paged page shows, all of it."""
    roster = _kind(kind)
    form, rows = _diff_form(roster)
    chosen, status = _diff_periods(rows, form)
    if chosen is None:
        abort(status if status != 200 else 404)
    result = domain.diff(roster, chosen["from_period"], chosen["to_period"])
    return spreadsheet.download_file(exports.diff_xlsx_file(roster, result), spreadsheet.XLSX_MIMETYPE,
                                     exports.diff_filename(roster, result))


# One entry's pages register on ``bp`` too (they use the helpers above).
from crm.rosters import entry_views as _entry_views  # noqa: E402, F401
