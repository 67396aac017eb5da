"""`DELETE /v2/octavia/amphorae/{id}` (v2.21): only an amphora in ERROR; the worker then
removes it and it disappears from the API."""

from __future__ import annotations

from octolb.compute.base import NoopComputeDriver
from octolb.controller import reconcile
from octolb.db import session as dbs
from octolb.db.models import Amphora


def _amphora(status: str, ip: str) -> str:
    with dbs.transaction() as s:
        amp = Amphora(status=status, lb_network_ip=ip)
        s.add(amp)
        s.flush()
        return amp.id


def test_only_an_amphora_in_error_is_deleted(api, bus):
    broken, serving = _amphora("ERROR", "127.2.0.9"), _amphora("ALLOCATED", "127.2.0.10")
    r = api.delete(f"/v2/octavia/amphorae/{serving}")
    assert r.status_code == 409
    assert r.json()["faultstring"] == f"Amphora {serving} is immutable and cannot be updated."
    assert api.get(f"/v2/octavia/amphorae/{serving}").json()["amphora"]["status"] == \
        "ALLOCATED"
    assert api.delete("/v2/octavia/amphorae/00000000-0000-0000-0000-00000000abcd") \
        .status_code == 404

    r = api.delete(f"/v2/octavia/amphorae/{broken}")
    assert r.status_code == 204 and r.content == b""
    assert bus.sent == [f"delete:{broken}"]
    assert api.get(f"/v2/octavia/amphorae/{broken}").json()["amphora"]["status"] == \
        "PENDING_DELETE"
    assert api.delete(f"/v2/octavia/amphorae/{broken}").status_code == 409  # once only

    # what the worker does with the message
    compute = NoopComputeDriver()
    compute.build(broken, "127.2.0.9", server_pem=b"", ca_cert_path=None, heartbeat_key="",
                  heartbeat_destinations=[], heartbeat_interval=1)
    drivers = reconcile.Drivers(compute=compute, client=None, ca=None, heartbeat_key="",
                                amphora_base=None)
    reconcile.delete_amphora(broken, drivers, graceful=False)
    assert not compute.is_running(broken)
    assert api.get(f"/v2/octavia/amphorae/{broken}").status_code == 404
    ids = [a["id"] for a in api.get("/v2/octavia/amphorae").json()["amphorae"]]
    assert broken not in ids and serving in ids
    with dbs.transaction() as s:
        assert s.get(Amphora, broken).lb_network_ip is None
