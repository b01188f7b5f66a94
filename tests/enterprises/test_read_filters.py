"""The list's filters read without building the form (crm.enterprises.forms.read_filters): the same filters and
the same key of the drawn form as the form gives, for every argument set, read again from the per-process memo."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from crm.enterprises import forms
from tests.conftest import login, make_user

ARGUMENT_SETS = [
    [],
    [("q", "遵义")],
    [("q", "  zyq  ")],
    [("q", "")],
    [("q", "a"), ("q", "b")],  # the first value, as the form takes it
    [("county", "汇川区"), ("sort", "-updated")],
    [("sort", "nonsense"), ("above_scale", "1")],
    [("cluster", "不存在的集群"), ("supply_category", "线束")],
    [("roster", "supplier_list"), ("page", "3")],
    [("roster", "nope"), ("per_page", "20")],
    [("junk", "x"), ("q", "鑫源")],
]


@pytest.mark.parametrize("arguments", ARGUMENT_SETS, ids=lambda a: "&".join(f"{k}={v}" for k, v in a) or "none")
@pytest.mark.parametrize("role", ["admin", "county coordinator", "commissioner"])
def test_the_filters_and_drawn_key_are_the_forms(app, arguments, role):
    user = (make_user("coordinator", county="汇川区") if role == "county coordinator"
            else make_user(role, specialties=["tech"] if role == "commissioner" else None))
    args = MultiDict(arguments)
    forms._READ.clear()
    with app.test_request_context("/enterprises/"):
        for per_page in (50, 20, 37):
            form = forms.filled_search_form(args, user, per_page)
            expected = (form.filters(), form.drawn_key(user))
            assert forms.read_filters(args, user, per_page) == expected  # built
            assert forms.read_filters(args, user, per_page) == expected  # remembered


def test_arguments_read_before_build_no_form(app, monkeypatch):
    user = make_user("coordinator", county="汇川区")
    built = []
    real = forms.search_form
    monkeypatch.setattr(forms, "search_form", lambda formdata: built.append(1) or real(formdata))
    forms._READ.clear()
    with app.test_request_context("/enterprises/"):
        filters, _ = forms.read_filters(MultiDict([("q", "遵义")]), user, 50)
        filters["q"] = "changed by the caller"  # the caller's own copy
        again, _ = forms.read_filters(MultiDict([("q", "遵义")]), user, 50)
        assert again["q"] == "遵义" and built == [1]
        forms.read_filters(MultiDict([("q", "遵义")]), make_user("coordinator", county="红花岗区"), 50)
        forms.read_filters(MultiDict([("q", "遵义")]), user, 20)
        assert built == [1, 1, 1]  # another county scope, another per-page value: read afresh


def test_the_list_page_shows_the_chosen_filters_and_their_results(client):
    """The drawn form shows the values asked for (a view read from the memo the same as the first)."""
    user = make_user("admin")
    login(client, user)
    for _ in range(2):
        html = client.get("/enterprises/?q=%E9%81%B5%E4%B9%89&sort=-updated&county=%E6%B1%87%E5%B7%9D%E5%8C%BA"
                          ).get_data(as_text=True)
        assert 'value="遵义"' in html
        assert '<option selected value="-updated">' in html and '<option selected value="汇川区">' in html
