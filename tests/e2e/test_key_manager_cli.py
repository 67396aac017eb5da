"""The stock `openstack secret ...` commands (python-barbicanclient) against the built-in
key manager, with the clouds.yaml `octolb up` writes (test_data_plane_tls.py shows the
load-balancer client still working with the same file)."""

from __future__ import annotations

import base64

import pytest

from tests.harness import Octolb


@pytest.fixture(scope="module")
def octolb(tmp_path_factory):
    o = Octolb(tmp_path_factory.mktemp("octolb") / "state")
    try:
        yield o.start()
    finally:
        o.close()


def test_secret_store_list_get_delete(octolb):
    payload = base64.b64encode(b"\x00\x01 binary secret").decode()
    stored = octolb.openstack("secret", "store", "--name", "cert1", "-t",
                              "application/octet-stream", "-e", "base64", "--payload", payload)
    href = stored["Secret href"]
    assert f"{octolb.url}/key-manager/v1/secrets/" in href
    assert [s["Secret href"] for s in octolb.openstack("secret", "list")] == [href]
    shown = octolb.openstack("secret", "get", href)
    assert shown["Name"] == "cert1" and shown["Status"] == "ACTIVE"
    assert shown["Content types"] == {"default": "application/octet-stream"}
    r = octolb.api("GET", f"/key-manager/v1/secrets/{href.rsplit('/', 1)[1]}/payload",
                   headers={"Accept": "application/octet-stream"})
    assert r.content == b"\x00\x01 binary secret"
    octolb.openstack("secret", "delete", href, parse=False)
    assert octolb.api("GET", "/key-manager/v1/secrets").json()["total"] == 0



def test_secret_consumers_and_the_delete_they_refuse(octolb):
    """`openstack secret consumer create|list|delete` (microversion 1.1) and `secret delete`
    of a secret with consumers: refused by the server (1.2) unless `--force`."""
    href = octolb.openstack("secret", "store", "--name", "used", "--payload", "x")[
        "Secret href"]
    for resource in ("img-1", "img-2"):
        octolb.openstack("secret", "consumer", "create", "-s", "image", "-t", "image",
                         "-i", resource, href, parse=False)
    listed = octolb.openstack("secret", "consumer", "list", href)
    assert sorted((c["Service"], c["Resource type"], c["Resource id"]) for c in listed) == [
        ("image", "image", "img-1"), ("image", "image", "img-2")]
    refused = octolb.openstack("secret", "delete", href, check=False, parse=False)
    assert refused.returncode != 0
    assert "Secret cannot be deleted as it has consumers" in refused.stderr
    octolb.openstack("secret", "consumer", "delete", "-s", "image", "-t", "image",
                     "-i", "img-1", href, parse=False)
    assert [c["Resource id"] for c in octolb.openstack("secret", "consumer", "list", href)
            ] == ["img-2"]
    octolb.openstack("secret", "delete", "--force", href, parse=False)
    assert octolb.api("GET", f"/key-manager/v1/secrets/{href.rsplit('/', 1)[1]}"
                      ).status_code == 404
