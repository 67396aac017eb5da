"""The project look-ups of the stock CLI, answered in noauth mode only (in keystone mode
Keystone answers them; octolb must not pretend to know projects)."""

from __future__ import annotations

from octolb import config


def test_noauth_projects_are_their_own_names(api):
    for base in ("/identity/v3", "/key-manager/v1"):
        p = api.get(f"{base}/projects/abc123").json()["project"]
        assert (p["id"], p["name"], p["enabled"]) == ("abc123", "abc123", True)
        listed = api.get(f"{base}/projects", params={"name": "team-a"}).json()["projects"]
        assert [x["id"] for x in listed] == ["team-a"]
    assert api.get("/identity/v3/projects/bad%0aid").status_code == 404


def test_keystone_mode_knows_no_projects(api):
    config.CONF.set_override("auth_strategy", "keystone", "api_settings")
    try:
        assert api.get("/identity/v3/projects/abc123").status_code == 404
        assert api.get("/identity/v3/projects", params={"name": "x"}).json()["projects"] == []
    finally:
        config.CONF.clear_override("auth_strategy", "api_settings")
