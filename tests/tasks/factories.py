"""Helpers of the task ledger tests: the seeded tasks, units, and small files of each allowed (and refused) type."""

from __future__ import annotations

import io
import zipfile

import sqlalchemy as sa
from openpyxl import Workbook

from crm.extensions import db
from crm.reference.models import Department
from crm.tasks.models import Task, TaskKind

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def task(number: int, kind: TaskKind = TaskKind.TASK) -> Task:
    return db.session.scalar(sa.select(Task).where(Task.kind == kind, Task.number == number))


def safeguard(number: int) -> Task:
    return task(number, TaskKind.SAFEGUARD)


def unit(name: str) -> Department:
    return db.session.scalar(sa.select(Department).where(Department.name == name))


def docx(body: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.wordprocessingml.document.main+xml"/></Types>'))
        if body:
            z.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def xlsx() -> bytes:
    wb = Workbook()
    wb.active["A1"] = "进展"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("a.txt", "hello")
    return buffer.getvalue()


def make_report(task_: Task, department: Department, period: str = "2026-11", status: str = "on_track",
                text: str = "进展", attachment: bool = True, author=None):
    """A report (and one PDF attachment) written directly, as the data sets of the core sweeps need."""
    import hashlib

    from crm.tasks.models import ProgressReport, ReportAttachment, ReportStatus

    report = ProgressReport(task_id=task_.id, department_id=department.id, period=period,
                            status=ReportStatus(status), text=text, author_id=getattr(author, "id", None))
    if attachment:
        report.attachments.append(ReportAttachment(
            filename="进展.pdf", content_type="application/pdf", size=len(PDF), sha256=hashlib.sha256(PDF).hexdigest(),
            data=PDF, uploaded_by_id=getattr(author, "id", None)))
    db.session.add(report)
    db.session.flush()
    return report
