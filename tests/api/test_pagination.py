"""Lists page in SQL: walking `next` links under mixed sort directions and NULL sort values
visits every row once, in order; `page_reverse=True` is the page just before the marker; tag
filters page too; a page costs a constant number of queries, whatever it holds."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from octolb.db import session as dbs
from tests.api.conftest import settle


def make_lbs(api, subnet_id) -> list[dict]:
    """12 LBs: names lb00..lb11, every third without a description, even ones tagged x."""
    ids = []
    for i in range(12):
        body = {"vip_subnet_id": subnet_id, "name": f"lb{i:02d}",
                "tags": ["x"] if i % 2 == 0 else []}
        if i % 3:
            body["description"] = f"d{i % 4}"
        r = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
        assert r.status_code == 201, r.text
        ids.append(r.json()["loadbalancer"])
    return ids


@pytest.fixture
def lbs(api, subnet_id):
    return make_lbs(api, subnet_id)


def _walk(api, url):
    seen, pages = [], 0
    while url:
        body = api.get(url.replace("http://testserver", "")).json()
        seen += body["loadbalancers"]
        pages += 1
        url = next((link["href"] for link in body["loadbalancers_links"]
                    if link["rel"] == "next"), None) if body["loadbalancers"] else None
    return seen, pages


def check_walk_with_mixed_directions_and_null_sort_values(api, lbs):
    seen, pages = _walk(api, "/v2/lbaas/loadbalancers?limit=5&sort=description:asc,name:desc")
    want = sorted(lbs, key=lambda lb: lb["name"], reverse=True)
    want.sort(key=lambda lb: lb["description"] or "")  # NULL compares as '' (stable sort)
    assert [lb["id"] for lb in seen] == [lb["id"] for lb in want]
    assert pages == 3  # 5 + 5 + 2: a page that is not full has no `next` link


def check_page_reverse_is_the_page_before_the_marker(api, lbs):
    by_name = sorted(lbs, key=lambda lb: lb["name"])
    marker = by_name[7]["id"]
    body = api.get(f"/v2/lbaas/loadbalancers?sort=name:asc&limit=3&marker={marker}"
                   "&page_reverse=True").json()
    assert [lb["name"] for lb in body["loadbalancers"]] == ["lb04", "lb05", "lb06"]
    prev = [link for link in body["loadbalancers_links"] if link["rel"] == "previous"]
    assert prev[0]["href"].endswith(
        f"?limit=3&sort=name:asc&marker={by_name[4]['id']}&page_reverse=True")
    # the first page backwards holds what there is
    body = api.get(f"/v2/lbaas/loadbalancers?sort=name:asc&limit=3&marker={by_name[1]['id']}"
                   "&page_reverse=True").json()
    assert [lb["name"] for lb in body["loadbalancers"]] == ["lb00"]


def test_walk_with_mixed_directions_and_null_sort_values(api, lbs):
    check_walk_with_mixed_directions_and_null_sort_values(api, lbs)


def test_page_reverse_is_the_page_before_the_marker(api, lbs):
    check_page_reverse_is_the_page_before_the_marker(api, lbs)


def test_tag_filter_pages_forward_and_back(api, lbs):
    # links do not carry filters (as Octavia's), so the client passes `tags` with the marker
    url = "/v2/lbaas/loadbalancers?tags=x&limit=2&sort=name:asc"
    seen, marker = [], None
    while True:
        body = api.get(url + (f"&marker={marker}" if marker else "")).json()
        if not body["loadbalancers"]:
            break
        seen += [lb["name"] for lb in body["loadbalancers"]]
        marker = body["loadbalancers"][-1]["id"]
    assert seen == [f"lb{i:02d}" for i in range(0, 12, 2)]
    lb08 = next(lb["id"] for lb in lbs if lb["name"] == "lb08")
    body = api.get(f"{url}&marker={lb08}&page_reverse=True").json()
    assert [lb["name"] for lb in body["loadbalancers"]] == ["lb04", "lb06"]


def test_unknown_marker_is_400(api, lbs):
    for extra in ("", "&tags=x"):
        r = api.get(f"/v2/lbaas/loadbalancers?marker=nope{extra}")
        assert r.status_code == 400
        assert r.json()["faultstring"] == "Supplied pagination marker 'nope' is not valid."


def test_queries_per_page_do_not_grow_with_rows(api, lbs):
    for lb in lbs:
        settle(lb["id"])
        r = api.post("/v2/lbaas/listeners", json={"listener": {
            "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}})
        assert r.status_code == 201, r.text
        settle(lb["id"])
    count = [0]

    def counted(*_args):
        count[0] += 1

    event.listen(dbs.engine(), "before_cursor_execute", counted)
    try:
        costs = {}
        for limit in (2, 12):
            count[0] = 0
            body = api.get(f"/v2/lbaas/loadbalancers?limit={limit}").json()
            assert len(body["loadbalancers"]) == limit
            assert all(len(lb["listeners"]) == 1 for lb in body["loadbalancers"])
            costs[limit] = count[0]
    finally:
        event.remove(dbs.engine(), "before_cursor_execute", counted)
    assert costs[12] <= costs[2], costs
