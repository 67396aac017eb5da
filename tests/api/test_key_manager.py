"""The built-in key manager (Barbican v1 shapes under /key-manager): secrets and
containers, scoped to the caller's project, encrypted at rest."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from octolb import config
from octolb.db import session as dbs
from octolb.db.models import Secret

KM = "/key-manager/v1"
OTHER = {"X-Project-Id": "other-project"}


def _store(api, payload: bytes = b"\x00\x01secret-bytes", headers=None, **extra) -> str:
    body = {"name": "s1", "payload": base64.b64encode(payload).decode(),
            "payload_content_type": "application/octet-stream",
            "payload_content_encoding": "base64", **extra}
    r = api.post(f"{KM}/secrets", json=body, headers=headers or {})
    assert r.status_code == 201, r.text
    return r.json()["secret_ref"]


def _id(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


def test_version_document_announces_v1_with_microversions(api):
    r = api.get("/key-manager/", headers={"OpenStack-API-Version": "key-manager 1.1"})
    assert r.status_code == 200
    (v1,) = r.json()["versions"]["values"]
    assert v1["id"] == "v1" and v1["min_version"] == "1.0" and v1["max_version"] == "1.2"
    assert v1["links"][0]["href"].endswith("/key-manager/v1/")


def test_store_then_get_metadata_and_payload(api):
    ref = _store(api)
    assert "/key-manager/v1/secrets/" in ref
    meta = api.get(f"{KM}/secrets/{_id(ref)}").json()
    assert meta["secret_ref"] == ref and meta["name"] == "s1" and meta["status"] == "ACTIVE"
    assert meta["content_types"] == {"default": "application/octet-stream"}
    assert "payload" not in meta
    r = api.get(f"{KM}/secrets/{_id(ref)}/payload",
                headers={"Accept": "application/octet-stream"})
    assert r.status_code == 200 and r.content == b"\x00\x01secret-bytes"


def test_text_secret_round_trip(api):
    r = api.post(f"{KM}/secrets", json={"payload": "pässword",
                                        "payload_content_type": "text/plain"})
    assert r.status_code == 201
    p = api.get(f"{_id(r.json()['secret_ref'])}".join([f"{KM}/secrets/", "/payload"]),
                headers={"Accept": "text/plain"})
    assert p.content.decode() == "pässword"


def test_payload_is_encrypted_at_rest_with_a_0600_key(api, tmp_path):
    _store(api, b"very-recognisable-plaintext")
    with dbs.transaction() as s:
        (row,) = s.query(Secret).all()
        assert b"very-recognisable-plaintext" not in row.payload
    key = config.state_path("secrets.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_list_with_limit_offset_total(api):
    refs = [_store(api, name=f"s{i}") for i in range(3)]
    page = api.get(f"{KM}/secrets?limit=2&offset=0").json()
    assert page["total"] == 3 and len(page["secrets"]) == 2 and "next" in page
    rest = api.get(f"{KM}/secrets?limit=2&offset=2").json()
    seen = [s["secret_ref"] for s in page["secrets"] + rest["secrets"]]
    assert len(seen) == 3 and set(seen) == set(refs)
    assert "previous" in rest and "next" not in rest
    assert api.get(f"{KM}/secrets?name=s1").json()["total"] == 1


def test_delete_secret(api):
    ref = _store(api)
    assert api.delete(f"{KM}/secrets/{_id(ref)}").status_code == 204
    r = api.get(f"{KM}/secrets/{_id(ref)}")
    assert r.status_code == 404 and r.json()["title"] == "Not Found"


def test_a_project_sees_only_its_own_secrets(api):
    mine = _store(api)
    theirs = _store(api, headers=OTHER)
    assert [s["secret_ref"] for s in api.get(f"{KM}/secrets").json()["secrets"]] == [mine]
    assert [s["secret_ref"] for s in api.get(f"{KM}/secrets", headers=OTHER)
            .json()["secrets"]] == [theirs]
    for path in (f"{KM}/secrets/{_id(theirs)}", f"{KM}/secrets/{_id(theirs)}/payload"):
        assert api.get(path).status_code == 404
    assert api.delete(f"{KM}/secrets/{_id(theirs)}").status_code == 404
    assert api.get(f"{KM}/secrets/{_id(theirs)}", headers=OTHER).status_code == 200


def test_certificate_container_round_trip(api):
    cert, key = _store(api, b"cert"), _store(api, b"key")
    r = api.post(f"{KM}/containers", json={
        "name": "c1", "type": "certificate",
        "secret_refs": [{"name": "certificate", "secret_ref": cert},
                        {"name": "private_key", "secret_ref": key}]})
    assert r.status_code == 201, r.text
    ref = r.json()["container_ref"]
    doc = api.get(f"{KM}/containers/{_id(ref)}").json()
    assert doc["type"] == "certificate" and doc["container_ref"] == ref
    assert {(x["name"], x["secret_ref"]) for x in doc["secret_refs"]} == {
        ("certificate", cert), ("private_key", key)}
    listing = api.get(f"{KM}/containers").json()
    assert listing["total"] == 1 and listing["containers"][0]["name"] == "c1"
    assert api.get(f"{KM}/containers", headers=OTHER).json()["total"] == 0
    assert api.get(f"{KM}/containers/{_id(ref)}", headers=OTHER).status_code == 404
    assert api.delete(f"{KM}/containers/{_id(ref)}").status_code == 204
    assert api.get(f"{KM}/containers/{_id(ref)}").status_code == 404


def test_container_cannot_reference_another_projects_secret(api):
    theirs = _store(api, headers=OTHER)
    r = api.post(f"{KM}/containers", json={
        "type": "generic", "secret_refs": [{"name": "x", "secret_ref": theirs}]})
    assert r.status_code == 404


@pytest.mark.parametrize("body, words", [
    ({"payload": "eA==", "payload_content_type": "application/octet-stream"}, "base64"),
    ({"payload": "!!!", "payload_content_type": "application/octet-stream",
      "payload_content_encoding": "base64"}, "base64"),
    ({"payload": "x"}, "payload_content_type"),
    ({"payload": "", "payload_content_type": "text/plain"}, "non-empty"),
    ({"payload": "x", "payload_content_type": "image/png"}, "not supported"),
    ({"payload": "x", "payload_content_type": "text/plain",
      "payload_content_encoding": "base64"}, "not allowed"),
    ({"secret_type": "banana"}, "secret_type"),
    ({"name": "a\nb"}, "name"),
    ({"name": 5}, "name"),
    ({"bit_length": -1}, "bit_length"),
    ({"expiration": "yesterday"}, "expiration"),
    ({"expiration": "2001-01-01T00:00:00"}, "before current time"),
])
def test_bad_secret_input_is_400(api, body, words):
    r = api.post(f"{KM}/secrets", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == 400 and words in r.json()["description"]


def test_malformed_bodies_are_400(api):
    assert api.post(f"{KM}/secrets", content=b"{nope").status_code == 400
    assert api.post(f"{KM}/secrets", json=[1]).status_code == 400
    assert api.post(f"{KM}/containers", json={"type": "nope"}).status_code == 400


@pytest.mark.parametrize("refs, words", [
    ("notalist", "list"),
    ([{"name": "certificate"}], "secret_ref"),
    ([{"name": "certificate", "secret_ref": "http://elsewhere/x"}], "Invalid secret_ref"),
])
def test_bad_container_input_is_400(api, refs, words):
    r = api.post(f"{KM}/containers", json={"type": "generic", "secret_refs": refs})
    assert r.status_code == 400 and words in r.json()["description"]


def test_certificate_container_needs_certificate_and_known_names(api):
    key = _store(api)
    r = api.post(f"{KM}/containers", json={
        "type": "certificate", "secret_refs": [{"name": "private_key", "secret_ref": key}]})
    assert r.status_code == 400 and "certificate" in r.json()["description"]
    r = api.post(f"{KM}/containers", json={
        "type": "certificate", "secret_refs": [{"name": "certificate", "secret_ref": key},
                                               {"name": "banana", "secret_ref": key}]})
    assert r.status_code == 400 and "banana" in r.json()["description"]
    r = api.post(f"{KM}/containers", json={
        "type": "generic", "secret_refs": [{"name": "a", "secret_ref": key},
                                           {"name": "a", "secret_ref": key}]})
    assert r.status_code == 400 and "Duplicate" in r.json()["description"]


def test_unknown_ids_and_paths_are_404_in_barbican_shape(api):
    assert api.get(f"{KM}/secrets/not-a-uuid").status_code == 404
    r = api.get(f"{KM}/orders")
    assert r.status_code == 404 and r.json()["title"] == "Not Found"
