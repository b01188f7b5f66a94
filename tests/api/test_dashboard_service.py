"""GET /api/v1/dashboard/service: the page's numbers (crm.dashboard.service.performance), scoped per role; every
answer is validated against the OpenAPI document by the test client (API_VALIDATE_RESPONSES)."""

from __future__ import annotations

from crm.dashboard import service
from tests.api.support import bearer
from tests.conftest import make_user
from tests.dashboard.service_data import END, START, build

URL = "/api/v1/dashboard/service"
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def test_city_numbers_match_the_domain(client):
    build()
    admin = make_user("admin")
    response = client.get(URL, query_string=NOVEMBER, headers=bearer(admin))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["period"] == {"from": "2026-11-01", "to": "2026-11-30"} and body["scope"] == "city"
    city = body["city"]
    assert (city["visits"], city["requests_raised"], city["requests_closed"], city["requests_overdue"]) == (3, 7, 4, 3)
    assert (city["median_days_to_close"], city["on_time_rate"], city["mean_satisfaction"]) == (9.5, 0.5, 4.0)
    assert (city["deliveries_on_time_rate"], city["coverage"], city["meetings_chengyu"]) == (0.5, 0.3333, 1)
    expected = service.performance(admin, START, END)
    assert [row["county"] for row in body["counties"]] == [row["county"] for row in expected["counties"]]
    assert {row["username"]: row["on_time_rate"] for row in body["commissioners"]} == {
        row["username"]: row["on_time_rate"] for row in expected["commissioners"]}
    assert [r["username"] for r in body["rankings"]["visit_coverage"]] == ["perf_b", "perf_a", "perf_c"]
    assert body["visits_by_month"] == [{"month": "2026-11", "visits": 3, "interactions": 5}]
    assert set(body["rules"]) >= {"requests_overdue", "coverage", "visit_coverage"}
    assert {row["department"] for row in body["departments"]} >= {service.NO_DEPARTMENT}


def test_county_user_and_refusal(client):
    build()
    hc = make_user("coordinator", county="汇川区")
    headers = bearer(hc)
    body = client.get(URL, query_string=NOVEMBER, headers=headers).get_json()
    assert body["scope"] == "county" and [r["county"] for r in body["counties"]] == ["汇川区"]
    assert (body["total"]["requests_raised"], body["city"]["requests_raised"]) == (4, 7)
    refused = client.get(URL, query_string={**NOVEMBER, "county": "红花岗区"}, headers=headers)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"


def test_commissioner_gets_only_their_own_row(client):
    data = build()
    body = client.get(URL, query_string=NOVEMBER, headers=bearer(data.a)).get_json()
    assert body["scope"] == "own" and body["city"] is None and body["rankings"] is None
    assert body["counties"] == [] and body["departments"] == []
    assert [row["username"] for row in body["commissioners"]] == ["perf_a"]
    assert "perf_b" not in str(body)


def test_leader_city_user_selects_a_county(client):
    build()
    body = client.get(URL, query_string={**NOVEMBER, "county": "红花岗区"},
                      headers=bearer(make_user("leader"))).get_json()
    assert body["county"] == "红花岗区" and body["total"]["requests_overdue"] == 2


def test_bad_input_names_the_field(client):
    headers = bearer(make_user("admin"))
    for query, field in (({"from": "2026-02-30"}, "from"), ({"to": "yesterday"}, "to"),
                         ({"from": "2026-11-30", "to": "2026-11-01"}, "from"), ({"county": "火星区"}, "county")):
        response = client.get(URL, query_string=query, headers=headers)
        assert response.status_code == 422, (query, response.get_json())
        assert field in response.get_json()["error"]["fields"]


def test_default_period_is_this_month_so_far(client):
    from crm.core.time import local_today

    body = client.get(URL, headers=bearer(make_user("admin"))).get_json()
    today = local_today()
    assert body["period"] == {"from": today.replace(day=1).isoformat(), "to": today.isoformat()}


def test_needs_a_token(client):
    assert client.get(URL).status_code == 401


def test_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/dashboard/service"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "county"}
    assert "ServicePerformance" in str(operation["responses"]["200"])
