"""`octolb up` writes a clouds.yaml entry the stock CLI can use with no Keystone, and none in
keystone mode, where an `auth_type: none` entry could only be refused."""

from __future__ import annotations

import yaml

from octolb import cli, config


def test_noauth_writes_an_entry_and_keeps_other_clouds(tmp_path):
    config.CONF.set_override("state_dir", str(tmp_path))
    try:
        (tmp_path / "clouds.yaml").write_text(yaml.safe_dump({"clouds": {"other": {"a": 1}}}))
        written = cli.write_clouds_yaml("http://127.0.0.1:9876", user_file=False)
        assert written == [tmp_path / "clouds.yaml"]
        clouds = yaml.safe_load(written[0].read_text())["clouds"]
        assert clouds["other"] == {"a": 1}
        assert clouds["octolb"]["auth_type"] == "none"
        assert clouds["octolb"]["load_balancer_endpoint_override"] == "http://127.0.0.1:9876/"
    finally:
        config.CONF.clear_override("state_dir")


def test_keystone_mode_writes_nothing(tmp_path):
    config.CONF.set_override("state_dir", str(tmp_path))
    config.CONF.set_override("auth_strategy", "keystone", "api_settings")
    try:
        assert cli.write_clouds_yaml("http://127.0.0.1:9876", user_file=False) == []
        assert not (tmp_path / "clouds.yaml").exists()
    finally:
        config.CONF.clear_override("auth_strategy", "api_settings")
        config.CONF.clear_override("state_dir")
