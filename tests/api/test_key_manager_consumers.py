"""Consumers of the built-in key manager's secrets and containers: the load balancers' own
(listeners and pools holding a reference, from create to update to delete, cascade
included) and those registered through Barbican's consumer API; a secret or container with
consumers is not deleted without `force`."""

from __future__ import annotations

import pytest

from tests import tlsgen
from tests.api.conftest import settle
from tests.api.test_listener_tls import secret

KM = "/key-manager/v1"


@pytest.fixture(scope="module")
def pki():
    root, client_ca, member_ca = tlsgen.ca("server CA"), tlsgen.ca("client CA"), tlsgen.ca("m")
    return {"root": root, "client_ca": client_ca, "member_ca": member_ca,
            "www": tlsgen.leaf(root, "www.example.test", ["www.example.test"]),
            "api": tlsgen.leaf(root, "api.example.test", ["api.example.test"]),
            "lb_client": tlsgen.leaf(tlsgen.ca("lb CA"), "lb", client=True)}


def sid(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


def used_by(api, ref: str) -> list[tuple]:
    """(service, resource_type, resource_id) of each consumer of a secret, from its
    consumer list; the secret's own document must say the same."""
    kind = "secrets" if "/secrets/" in ref else "containers"
    r = api.get(f"{KM}/{kind}/{sid(ref)}/consumers")
    assert r.status_code == 200, r.text
    listed = r.json()
    assert listed["total"] == len(listed["consumers"])
    shown = api.get(f"{KM}/{kind}/{sid(ref)}").json()["consumers"]
    if kind == "containers":
        assert [{"name": e["name"], "URL": e["URL"]} for e in listed["consumers"]] == shown
        return [(e["name"], e["URL"]) for e in shown]
    for e in listed["consumers"]:
        assert e["status"] == "ACTIVE" and e["created"] and e["updated"]
    assert [{k: e[k] for k in ("service", "resource_type", "resource_id")}
            for e in listed["consumers"]] == shown
    return [(e["service"], e["resource_type"], e["resource_id"]) for e in shown]


def listener_of(resource_id):
    return [("load-balancer", "listener", resource_id)]


def create_listener(api, lb, port=443, **fields):
    r = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb, "protocol": "TERMINATED_HTTPS", "protocol_port": port,
        **fields}})
    assert r.status_code == 201, r.text
    settle(lb)
    return r.json()["listener"]["id"]


def update(api, path, key, lb, **fields):
    r = api.put(f"/v2/lbaas/{path}", json={key: fields})
    assert r.status_code == 200, r.text
    settle(lb)


def delete_secret(api, ref, query=""):
    kind = "secrets" if "/secrets/" in ref else "containers"
    return api.delete(f"{KM}/{kind}/{sid(ref)}{query}")


def conflict(r) -> str:
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == 409 and body["title"] == "Conflict"
    return body["description"]


def test_listener_references_are_consumers_until_changed_or_deleted(api, lb, pki):
    www, sni = secret(api, pki["www"].pkcs12()), secret(api, pki["api"].pkcs12())
    ca, crl = secret(api, pki["client_ca"].cert_pem), secret(api, tlsgen.crl(pki["client_ca"]))
    lis = create_listener(api, lb, default_tls_container_ref=www, sni_container_refs=[sni],
                          client_ca_tls_container_ref=ca, client_crl_container_ref=crl,
                          client_authentication="MANDATORY")
    for ref in (www, sni, ca, crl):
        assert used_by(api, ref) == listener_of(lis)

    # a new default certificate: the old one is free, the new one taken
    other = secret(api, pki["www"].pkcs12())
    update(api, f"listeners/{lis}", "listener", lb, default_tls_container_ref=other)
    assert used_by(api, www) == [] and used_by(api, other) == listener_of(lis)
    # unset: SNI list emptied, client authentication (CA and CRL) removed
    update(api, f"listeners/{lis}", "listener", lb, sni_container_refs=[],
           client_authentication="NONE", client_crl_container_ref=None,
           client_ca_tls_container_ref=None)
    assert used_by(api, sni) == used_by(api, ca) == used_by(api, crl) == []
    assert delete_secret(api, www).status_code == 204

    # deleted: no consumer from the DELETE on (the worker only removes it from then on)
    assert api.delete(f"/v2/lbaas/listeners/{lis}").status_code == 204
    assert used_by(api, other) == []
    settle(lb)
    assert used_by(api, other) == []
    assert delete_secret(api, other).status_code == 204


def test_deleting_a_secret_in_use_is_409_naming_the_listener(api, lb, pki):
    ref = secret(api, pki["www"].pkcs12())
    lis = create_listener(api, lb, default_tls_container_ref=ref)
    why = conflict(delete_secret(api, ref))
    assert why.startswith("Secret cannot be deleted as it has consumers.")
    assert f"listener {lis} of load balancer {lb}" in why
    assert api.get(f"{KM}/secrets/{sid(ref)}").status_code == 200
    # Barbican's force (microversion 1.2) still deletes it
    assert delete_secret(api, ref, "?force=true").status_code == 204
    assert api.get(f"{KM}/secrets/{sid(ref)}").status_code == 404
    assert delete_secret(api, secret(api, b"x"), "?force=maybe").status_code == 400


def test_pool_references_are_consumers(api, lb, pki):
    crt, ca = secret(api, pki["lb_client"].pkcs12()), secret(api, pki["member_ca"].cert_pem)
    crl = secret(api, tlsgen.crl(pki["member_ca"]))
    r = api.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": lb, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True, "tls_container_ref": crt, "ca_tls_container_ref": ca,
        "crl_container_ref": crl}})
    assert r.status_code == 201, r.text
    pool = r.json()["pool"]["id"]
    settle(lb)
    for ref in (crt, ca, crl):
        assert used_by(api, ref) == [("load-balancer", "pool", pool)]
    assert f"pool {pool} of load balancer {lb}" in conflict(delete_secret(api, ca))
    update(api, f"pools/{pool}", "pool", lb, crl_container_ref=None, tls_container_ref=None)
    assert used_by(api, crl) == used_by(api, crt) == []
    assert api.delete(f"/v2/lbaas/pools/{pool}").status_code == 204
    assert used_by(api, ca) == []
    assert delete_secret(api, ca).status_code == 204


def test_cascade_delete_of_the_load_balancer_frees_everything(api, lb, pki):
    www, crt = secret(api, pki["www"].pkcs12()), secret(api, pki["lb_client"].pkcs12())
    lis = create_listener(api, lb, default_tls_container_ref=www)
    r = api.post("/v2/lbaas/pools", json={"pool": {
        "listener_id": lis, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True, "tls_container_ref": crt}})
    assert r.status_code == 201, r.text
    settle(lb)
    assert used_by(api, www) == listener_of(lis) and len(used_by(api, crt)) == 1
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb}?cascade=true").status_code == 204
    assert used_by(api, www) == used_by(api, crt) == []
    assert delete_secret(api, www).status_code == delete_secret(api, crt).status_code == 204


def test_graph_create_registers_its_listeners(api, subnet_id, pki):
    www = secret(api, pki["www"].pkcs12())
    r = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": subnet_id, "listeners": [{
            "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            "default_tls_container_ref": www}]}})
    assert r.status_code == 201, r.text
    (lis,) = r.json()["loadbalancer"]["listeners"]
    assert used_by(api, www) == listener_of(lis["id"])


def test_certificate_container_and_its_secrets_are_protected(api, lb, pki):
    cert, key = secret(api, pki["www"].cert_pem), secret(api, pki["www"].key_pem())
    r = api.post(f"{KM}/containers", json={"type": "certificate", "secret_refs": [
        {"name": "certificate", "secret_ref": cert}, {"name": "private_key", "secret_ref": key}]})
    container = r.json()["container_ref"]
    lis = create_listener(api, lb, default_tls_container_ref=container)
    (consumer,) = used_by(api, container)
    assert consumer[0] == "load-balancer"
    assert consumer[1].endswith(f"/v2/lbaas/listeners/{lis}")
    why = conflict(delete_secret(api, container))
    assert why.startswith("Container cannot be deleted as it has consumers.") and lis in why
    why = conflict(delete_secret(api, key))
    assert f"listener {lis}" in why and f"through container {sid(container)}" in why
    # the load balancer's own consumer cannot be unregistered by hand
    r = api.request("DELETE", f"{KM}/containers/{sid(container)}/consumers",
                    json={"name": "load-balancer", "URL": consumer[1]})
    assert lis in conflict(r)
    assert api.delete(f"/v2/lbaas/listeners/{lis}").status_code == 204
    assert used_by(api, container) == []
    assert delete_secret(api, key).status_code == 204


def test_registered_secret_consumers(api):
    ref = secret(api, b"opaque bytes")
    body = {"service": "image", "resource_type": "image", "resource_id": "img-1"}
    for _ in range(2):  # registering twice is one consumer
        r = api.post(f"{KM}/secrets/{sid(ref)}/consumers", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["secret_ref"] == ref
        assert r.json()["consumers"] == [body]
    api.post(f"{KM}/secrets/{sid(ref)}/consumers", json={**body, "resource_id": "img-2"})
    listed = used_by(api, ref)
    assert sorted(listed) == [("image", "image", "img-1"), ("image", "image", "img-2")]
    page = api.get(f"{KM}/secrets/{sid(ref)}/consumers?limit=1&offset=1").json()
    assert page["total"] == 2 and "previous" in page and "next" not in page
    assert page["consumers"][0]["resource_id"] == listed[1][2]
    assert "image image img-1" in conflict(delete_secret(api, ref))
    # another project sees neither the secret nor its consumers
    assert api.get(f"{KM}/secrets/{sid(ref)}/consumers",
                   headers={"X-Project-Id": "other"}).status_code == 404
    assert api.post(f"{KM}/secrets/{sid(ref)}/consumers",
                    json={"service": "image"}).status_code == 400
    r = api.request("DELETE", f"{KM}/secrets/{sid(ref)}/consumers", json=body)
    assert r.status_code == 200 and r.json()["consumers"] == [{**body, "resource_id": "img-2"}]
    r = api.request("DELETE", f"{KM}/secrets/{sid(ref)}/consumers", json=body)
    assert r.status_code == 404
    assert delete_secret(api, ref, "?force=1").status_code == 204


def test_registered_container_consumers(api):
    c = api.post(f"{KM}/containers", json={"type": "generic", "secret_refs": []}).json()
    ref = c["container_ref"]
    body = {"name": "my-service", "URL": "https://example.test/widgets/1"}
    r = api.post(f"{KM}/containers/{sid(ref)}/consumers", json=body)
    assert r.status_code == 200 and r.json()["consumers"] == [body]
    assert used_by(api, ref) == [("my-service", "https://example.test/widgets/1")]
    assert "my-service" in conflict(delete_secret(api, ref))
    assert api.request("DELETE", f"{KM}/containers/{sid(ref)}/consumers",
                       json=body).json()["consumers"] == []
    assert delete_secret(api, ref).status_code == 204
