"""The no-op amphora driver (Octavia's amphora_noop_driver): the controller's side of the
agent API with nothing behind it. Configurations are rendered (so a bad one still fails the
reconcile) but pushed nowhere, and no heartbeat is expected: reconcile gives these amphorae
no amphora_health row, so the health manager never fails them over."""

from __future__ import annotations

from typing import Any


class NoopAmphoraClient:
    expects_heartbeats = False  # read by reconcile before it makes an amphora_health row

    def __init__(self, bind_port: int = 9443) -> None:
        self.bind_port = bind_port
        self.configs: dict[str, str] = {}  # lb id -> last configuration "pushed"

    def close(self) -> None:
        return None

    def wait_ready(self, amp: Any, attempts: int = 60, interval: float = 1.0) -> str:
        return "1.0"

    def get_info(self, amp: Any) -> dict:
        return {"api_version": "1.0", "hostname": f"noop-{amp.id}"}

    def get_details(self, amp: Any) -> dict:
        return {}

    def get_listeners(self, amp: Any) -> list[dict]:
        return []

    def upload_config(self, amp: Any, lb_id: str, text: str) -> None:
        self.configs[lb_id] = text

    def upload_certificate(self, amp: Any, lb_id: str, name: str, pem: bytes) -> None:
        return None

    def get_config(self, amp: Any, lb_id: str) -> str | None:
        return self.configs.get(lb_id)

    def start(self, amp: Any, lb_id: str) -> None:
        return None

    def reload(self, amp: Any, lb_id: str) -> None:
        return None

    def stop(self, amp: Any, lb_id: str) -> None:
        return None

    def delete_lb(self, amp: Any, lb_id: str) -> None:
        self.configs.pop(lb_id, None)

    def update_server_cert(self, amp: Any, pem: bytes) -> None:
        return None

    def update_agent_config(self, amp: Any, text: bytes) -> None:
        return None
