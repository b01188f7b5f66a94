"""The tasks API: the list and one task as API.md words them, reports filed by a liaison for their own unit only
(field-named Chinese errors otherwise), amended in the same period, attachments by multipart."""

from __future__ import annotations

import io

import sqlalchemy as sa

from crm.extensions import db
from crm.tasks.models import ProgressReport
from tests.conftest import api_token, make_user
from tests.tasks.factories import PDF, make_report, safeguard, task, unit


def test_the_list_has_the_18_tasks_and_3_safeguards_with_their_units(client):
    headers = api_token(make_user("commissioner", specialties=["tech"]))
    body = client.get("/api/v1/tasks", headers=headers).get_json()
    assert body["total"] == 21
    first = body["items"][0]
    assert (first["number"], first["kind"], first["title"]) == (1, "task", "建设先行探索示范区")
    assert first["units"] == ["市工业和科学技术局", "市发展改革委", "市投资促进局", "桐梓县人民政府"]
    assert [(i["kind"], i["number"]) for i in body["items"][-3:]] == [("safeguard", 1), ("safeguard", 2),
                                                                     ("safeguard", 3)]
    one = client.get(f"/api/v1/tasks/{task(18).id}", headers=headers).get_json()
    assert one["figures"] == ["settled", "rosters"] and one["text"].startswith("18.加大招商引资力度")
    assert {(m["metric"], m["target"]) for m in one["milestones"]} >= {("settled_from_chengyu", 10),
                                                                       ("settled_from_chengyu", 50)}


def test_a_liaison_files_and_amends_for_their_unit(client):
    headers = api_token(make_user("liaison"))
    url = f"/api/v1/tasks/{safeguard(2).id}/reports"
    created = client.post(url, json={"unit": "市自然资源局", "status": "on_track", "text": "推进中"}, headers=headers)
    assert created.status_code == 201, created.get_json()
    report = created.get_json()
    assert (report["unit"], report["status"], report["text"]) == ("市自然资源局", "on_track", "推进中")
    amended = client.post(url, json={"unit": "市自然资源局", "status": "behind", "text": "指标未到位",
                                     "period": report["period"]}, headers=headers)
    assert amended.status_code == 200 and amended.get_json()["id"] == report["id"]
    listed = client.get(url, headers=headers).get_json()
    assert listed["total"] == 1 and listed["items"][0]["status"] == "behind"


def test_refusals_name_the_field_in_chinese(client):
    headers = api_token(make_user("liaison"))
    url = f"/api/v1/tasks/{safeguard(2).id}/reports"
    other = client.post(url, json={"unit": "市财政局", "status": "on_track", "text": "代报"}, headers=headers)
    assert other.status_code == 403 and "本单位" in other.get_json()["error"]["fields"]["unit"]
    unknown = client.post(url, json={"unit": "不存在局", "status": "on_track", "text": "x"}, headers=headers)
    assert unknown.status_code == 422 and "未知责任单位" in unknown.get_json()["error"]["fields"]["unit"]
    bad = client.post(url, json={"unit": "市自然资源局", "status": "maybe", "text": ""}, headers=headers)
    assert bad.status_code == 422 and set(bad.get_json()["error"]["fields"]) == {"status", "text"}
    not_named = client.post(f"/api/v1/tasks/{task(1).id}/reports",
                            json={"unit": "市自然资源局", "status": "on_track", "text": "x"}, headers=headers)
    assert not_named.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProgressReport)) == 0


def test_a_coordinator_files_on_behalf_and_a_leader_may_not(client):
    url = f"/api/v1/tasks/{safeguard(2).id}/reports"
    body = {"unit": "市财政局", "status": "done", "text": "已拨付专项资金"}
    assert client.post(url, json=body, headers=api_token(make_user("coordinator"))).status_code == 201
    assert client.post(url, json=body, headers=api_token(make_user("leader"))).status_code == 403


def test_reports_are_read_by_scope(client):
    make_report(safeguard(2), unit("市自然资源局"), text="自然资源")
    make_report(safeguard(2), unit("市财政局"), text="财政")
    url = f"/api/v1/tasks/{safeguard(2).id}/reports"
    liaison = client.get(url, headers=api_token(make_user("liaison"))).get_json()
    assert [r["unit"] for r in liaison["items"]] == ["市自然资源局"]
    assert client.get(url, headers=api_token(make_user("leader"))).get_json()["total"] == 2
    assert client.get(url, headers=api_token(make_user("commissioner", specialties=["tech"]))).get_json()["total"] == 0


def test_attachments_upload_and_download(client):
    liaison = make_user("liaison")
    headers = api_token(liaison)
    report = make_report(safeguard(2), unit("市自然资源局"), attachment=False)
    url = f"/api/v1/tasks/{safeguard(2).id}/reports/{report.id}/attachments"
    refused = client.post(url, data={"file": (io.BytesIO(b"plain text"), "说明.docx")}, headers=headers,
                          content_type="multipart/form-data")
    assert refused.status_code == 422 and "说明.docx" in refused.get_json()["error"]["fields"]["attachments"]
    done = client.post(url, data={"file": [(io.BytesIO(PDF), "a.pdf"), (io.BytesIO(PDF), "b.pdf")]},
                       headers=headers, content_type="multipart/form-data")
    assert done.status_code == 201, done.get_json()
    files = done.get_json()["attachments"]
    assert [f["filename"] for f in files] == ["a.pdf", "b.pdf"] and files[0]["content_type"] == "application/pdf"
    got = client.get(f"{url}/{files[0]['id']}", headers=headers)
    assert got.status_code == 200 and got.data == PDF
    other = make_report(safeguard(2), unit("市财政局"))
    hidden = f"/api/v1/tasks/{safeguard(2).id}/reports/{other.id}/attachments/{other.attachments[0].id}"
    assert client.get(hidden, headers=headers).status_code == 404
