"""The few Octavia v2 API calls the benchmarks make, over plain HTTP (no CLI start-up cost),
each followed, where Octavia clients do `--wait`, by polling until the LB is ACTIVE."""

from __future__ import annotations

import time

import httpx

LB = "/v2/lbaas/loadbalancers"


class ApiError(RuntimeError):
    pass


class Api:
    def __init__(self, base_url: str, poll: float = 0.05, retry_409: float = 60.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.poll = poll
        self.retry_409 = retry_409
        self._subnet: str | None = None

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, body: dict | None = None, ok=(200, 201, 202, 204),
             retry_409: float | None = None) -> dict:
        """One request; a 409 (LB busy) is retried until `retry_409` seconds have passed."""
        deadline = time.monotonic() + (self.retry_409 if retry_409 is None else retry_409)
        while True:
            r = self.http.request(method, path, json=body)
            if r.status_code == 409 and time.monotonic() < deadline:
                time.sleep(self.poll)
                continue
            if r.status_code not in ok:
                raise ApiError(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
            return r.json() if r.content else {}

    def subnet_id(self) -> str:
        if self._subnet is None:
            subnets = self.call("GET", "/network/v2.0/subnets?name=private-subnet")["subnets"]
            self._subnet = subnets[0]["id"]
        return self._subnet

    # --- load balancers ---------------------------------------------------------------
    def lb(self, lb_id: str) -> dict:
        return self.call("GET", f"{LB}/{lb_id}")["loadbalancer"]

    def wait_active(self, lb_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            lb = self.lb(lb_id)
            if lb["provisioning_status"] == "ACTIVE":
                return lb
            if lb["provisioning_status"] == "ERROR":
                raise ApiError(f"load balancer {lb_id} went to ERROR")
            if time.monotonic() > deadline:
                raise ApiError(f"load balancer {lb_id} not ACTIVE after {timeout}s: "
                               f"{lb['provisioning_status']}")
            time.sleep(self.poll)

    def create_lb(self, name: str) -> dict:
        return self.call("POST", LB, {"loadbalancer": {
            "name": name, "vip_subnet_id": self.subnet_id()}})["loadbalancer"]

    def delete_lb(self, lb_id: str) -> None:
        self.call("DELETE", f"{LB}/{lb_id}?cascade=true")

    def list_lbs(self, **params) -> list[dict]:
        return self.http.get(LB, params=params).json()["loadbalancers"]

    # --- children (each call leaves the LB PENDING_UPDATE; wait=True waits ACTIVE) -----
    def create_listener(self, lb_id: str, protocol: str, port: int, wait: bool = True) -> dict:
        lis = self.call("POST", "/v2/lbaas/listeners", {"listener": {
            "loadbalancer_id": lb_id, "protocol": protocol, "protocol_port": port}})
        if wait:
            self.wait_active(lb_id)
        return lis["listener"]

    def create_pool(self, lb_id: str, listener_id: str, protocol: str,
                    algorithm: str = "ROUND_ROBIN", wait: bool = True) -> dict:
        pool = self.call("POST", "/v2/lbaas/pools", {"pool": {
            "listener_id": listener_id, "protocol": protocol, "lb_algorithm": algorithm}})
        if wait:
            self.wait_active(lb_id)
        return pool["pool"]

    def create_hm(self, lb_id: str, pool_id: str, kind: str = "HTTP", delay: int = 5,
                  timeout: int = 2, retries: int = 2, wait: bool = True) -> dict:
        body = {"pool_id": pool_id, "type": kind, "delay": delay, "timeout": timeout,
                "max_retries": retries}
        if kind in ("HTTP", "HTTPS"):
            body["url_path"] = "/"
        hm = self.call("POST", "/v2/lbaas/healthmonitors", {"healthmonitor": body})
        if wait:
            self.wait_active(lb_id)
        return hm["healthmonitor"]

    def create_member(self, lb_id: str, pool_id: str, address: str, port: int,
                      wait: bool = True) -> dict:
        m = self.call("POST", f"/v2/lbaas/pools/{pool_id}/members", {"member": {
            "address": address, "protocol_port": port, "subnet_id": self.subnet_id()}})
        if wait:
            self.wait_active(lb_id)
        return m["member"]

    def delete_member(self, lb_id: str, pool_id: str, member_id: str, wait: bool = True):
        self.call("DELETE", f"/v2/lbaas/pools/{pool_id}/members/{member_id}")
        if wait:
            self.wait_active(lb_id)

    def batch_members(self, lb_id: str, pool_id: str, members: list[tuple[str, int]],
                      wait: bool = True) -> None:
        self.call("PUT", f"/v2/lbaas/pools/{pool_id}/members", {"members": [
            {"address": a, "protocol_port": p, "subnet_id": self.subnet_id()}
            for a, p in members]})
        if wait:
            self.wait_active(lb_id)

    def amphorae(self, lb_id: str) -> list[dict]:
        return self.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")["amphorae"]


def http_lb(api: Api, members: list[tuple[str, int]], port: int = 80, protocol: str = "HTTP",
            hm: bool = True, lb: dict | None = None) -> dict:
    """An LB (or a new listener on `lb`) with a pool of `members`, as in the quick-start.
    Returns ids and the VIP."""
    if lb is None:
        lb = api.create_lb(f"bench-{protocol.lower()}-{port}")
        lb = api.wait_active(lb["id"])
    lis = api.create_listener(lb["id"], protocol, port)
    pool = api.create_pool(lb["id"], lis["id"], protocol)
    if hm:
        api.create_hm(lb["id"], pool["id"], "HTTP" if protocol == "HTTP" else "TCP")
    ms = [api.create_member(lb["id"], pool["id"], a, p)["id"] for a, p in members]
    return {"lb": lb, "lb_id": lb["id"], "vip": lb["vip_address"], "listener_id": lis["id"],
            "pool_id": pool["id"], "member_ids": ms, "port": port}
