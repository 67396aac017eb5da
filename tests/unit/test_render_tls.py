"""Rendering of TERMINATED_HTTPS listeners: crt-list and bind options, HSTS, X-Forwarded-Proto
https and the X-SSL-* headers, proven by `haproxy -c` on real certificate files."""

from __future__ import annotations

from pathlib import Path

import pytest

from octolb import constants as c
from octolb.amphora.render import RenderError, render_haproxy_config
from octolb.amphora.render.tls import ListenerTLSFiles, crt_list_name, render_crt_list
from octolb.certs import tls
from tests import tlsgen
from tests.unit.test_render import AMP_ID, base_path, haproxy_check, http_lb, section  # noqa: F401


def _write(directory: Path, name: str, data: bytes) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)
    return name


def _https_lb(base: str, **listener_kw):
    lb, listener, pool, member = http_lb(protocol=c.TERMINATED_HTTPS, protocol_port=443,
                                         **listener_kw)
    lb_dir = Path(base) / lb.id
    root, client_ca = tlsgen.ca("server CA"), tlsgen.ca("client CA")
    names = []
    for cn in ("www.example.test", "api.example.test"):
        bundle = tls.parse_certificate_payload(tlsgen.leaf(root, cn, [cn]).pkcs12()).pem_bundle()
        names.append(_write(lb_dir, tls.file_name(bundle), bundle))
    ca = _write(lb_dir, tls.file_name(client_ca.cert_pem), client_ca.cert_pem)
    crl_pem = tlsgen.crl(client_ca)
    crl = _write(lb_dir, tls.file_name(crl_pem), crl_pem)
    return lb, listener, pool, names, ca, crl


def _frontend(text: str, listener) -> list[str]:
    return section(text, f"frontend {listener.id}")


def test_terminated_https_binds_ssl_with_crt_list_and_options(base_path):  # noqa: F811
    lb, listener, _pool, names, ca, crl = _https_lb(
        base_path, client_authentication="MANDATORY", tls_versions=["TLSv1.2", "TLSv1.3"],
        alpn_protocols=["h2", "http/1.1"], tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256",
        hsts_max_age=300, hsts_include_subdomains=True, hsts_preload=True)
    files = ListenerTLSFiles(names, ca, crl)
    lb_dir = Path(base_path) / lb.id
    (lb_dir / crt_list_name(listener.id)).write_text(
        render_crt_list(base_path, lb.id, listener.id, files))
    text = render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path,
                                 tls_files={listener.id: files})
    haproxy_check(text, base_path)
    [bind] = [ln for ln in _frontend(text, listener) if ln.startswith("bind ")]
    assert f" ssl crt-list {lb_dir}/{listener.id}.pem" in bind
    assert f" ca-file {lb_dir}/{ca} verify required" in bind
    assert f" crl-file {lb_dir}/{crl}" in bind
    assert " ciphers ECDHE-ECDSA-AES128-GCM-SHA256" in bind
    assert " no-sslv3 no-tlsv10 no-tlsv11" in bind and "no-tlsv12" not in bind
    assert bind.endswith(" alpn h2,http/1.1")
    assert ('http-response set-header Strict-Transport-Security '
            '"max-age=300; includeSubDomains; preload;"') in _frontend(text, listener)
    assert "mode http" in _frontend(text, listener)


def test_crt_list_has_default_certificate_first(base_path):  # noqa: F811
    lb, listener, _pool, names, *_ = _https_lb(base_path)
    text = render_crt_list(base_path, lb.id, listener.id, ListenerTLSFiles(names))
    assert text == "".join(f"{base_path}/{lb.id}/{n}\n" for n in names)


@pytest.mark.parametrize("mode, verify", [("NONE", "none"), ("OPTIONAL", "optional")])
def test_client_authentication_modes(base_path, mode, verify):  # noqa: F811
    lb, listener, _pool, names, ca, _crl = _https_lb(base_path, client_authentication=mode)
    text = render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path,
                                 tls_files={listener.id: ListenerTLSFiles(names, ca)})
    assert f"verify {verify}" in text and "crl-file" not in text


def test_forwarded_proto_is_https_and_ssl_headers_are_set(base_path):  # noqa: F811
    headers = {"X-Forwarded-Proto": "true", "X-SSL-Client-Verify": "true",
               "X-SSL-Client-CN": "true", "X-SSL-Client-Has-Cert": "true",
               "X-SSL-Client-DN": "false"}
    lb, listener, pool, names, *_ = _https_lb(base_path, insert_headers=headers)
    files = ListenerTLSFiles(names)
    (Path(base_path) / lb.id / crt_list_name(listener.id)).write_text(
        render_crt_list(base_path, lb.id, listener.id, files))
    text = render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path,
                                 tls_files={listener.id: files})
    haproxy_check(text, base_path)
    backend = section(text, f"backend {pool.id}:{listener.id}")
    assert "http-request set-header X-Forwarded-Proto https" in backend
    assert "http-request set-header X-SSL-Client-Verify %[ssl_c_verify]" in backend
    assert "http-request set-header X-SSL-Client-CN %{+Q}[ssl_c_s_dn(cn)]" in backend
    assert "http-request set-header X-SSL-Client-Has-Cert %[ssl_c_used]" in backend
    assert not any("X-SSL-Client-DN" in ln for ln in backend)


def test_ssl_headers_are_never_rendered_on_http_listeners(base_path):  # noqa: F811
    lb, listener, pool, _ = http_lb(insert_headers={"X-SSL-Client-CN": "true",
                                                    "X-Forwarded-Proto": "true"})
    text = render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path)
    assert "X-SSL" not in text and "X-Forwarded-Proto http" in text


def test_terminated_https_without_files_is_a_render_error(base_path):  # noqa: F811
    lb, *_ = http_lb(protocol=c.TERMINATED_HTTPS, protocol_port=443)
    with pytest.raises(RenderError, match="certificate files"):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path)


@pytest.mark.parametrize("bad", ["../etc/passwd.pem", "a b.pem", "x.crt", "a\n.pem"])
def test_tls_file_names_are_validated(base_path, bad):  # noqa: F811
    lb, listener, *_ = http_lb(protocol=c.TERMINATED_HTTPS, protocol_port=443)
    with pytest.raises(RenderError):
        render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path,
                              tls_files={listener.id: ListenerTLSFiles([bad])})


def test_reencrypting_pool_presents_client_certificate_and_verifies_members(base_path):  # noqa: F811
    from octolb.amphora.render.tls import PoolTLSFiles
    lb, listener, pool, member = http_lb()
    pool.tls_enabled = True
    pool.tls_container_ref = "http://x/v1/secrets/a"
    pool.ca_tls_container_ref = "http://x/v1/secrets/b"
    pool.crl_container_ref = "http://x/v1/secrets/c"
    lb_dir = Path(base_path) / lb.id
    member_ca = tlsgen.ca("member CA")
    client = tls.parse_certificate_payload(
        tlsgen.leaf(tlsgen.ca("x"), "lb", client=True).pkcs12()).pem_bundle()
    files = PoolTLSFiles(_write(lb_dir, tls.file_name(client), client),
                         _write(lb_dir, tls.file_name(member_ca.cert_pem), member_ca.cert_pem),
                         _write(lb_dir, "crl1.pem", tlsgen.crl(member_ca)))
    text = render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path,
                                 pool_tls_files={pool.id: files})
    haproxy_check(text, base_path)
    [server] = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("server ")]
    assert (f" ssl sni ssl_fc_sni crt {lb_dir}/{files.certificate} ca-file {lb_dir}/"
            f"{files.ca_file} crl-file {lb_dir}/crl1.pem verify required") in server


def test_reencrypting_pool_without_ca_does_not_verify(base_path):  # noqa: F811
    lb, listener, pool, member = http_lb()
    pool.tls_enabled = True
    text = render_haproxy_config(lb, amphora_id=AMP_ID, base_path=base_path)
    assert "ssl sni ssl_fc_sni verify none" in text and "ca-file" not in text
