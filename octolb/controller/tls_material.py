"""The TLS files of a load balancer's TERMINATED_HTTPS listeners and re-encrypting pools,
built from the key manager for one amphora: what to upload (name -> content) and what the
renderer is told (object id -> file names). Material is read as the owning project, as the
API did when it accepted the references; it never reaches a log line."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.amphora.render import RenderError
from octolb.amphora.render.tls import (
    ListenerTLSFiles,
    PoolTLSFiles,
    crt_list_name,
    render_crt_list,
)
from octolb.certs import tls


def _served(lb: Any, lis: Any) -> bool:
    return (lb.enabled and lis.enabled and lis.protocol == c.TERMINATED_HTTPS
            and lis.provisioning_status not in (c.PENDING_DELETE, c.DELETED))


def _pool_files(session: Session, pool: Any, uploads: dict[str, bytes]) -> PoolTLSFiles:
    """A re-encrypting pool's client certificate, CA and CRL (Octavia's §4.5 names)."""
    project = pool.project_id
    crt = ca_name = crl_name = None
    try:
        if pool.tls_container_ref:
            bundle = tls.load_certificate(session, pool.tls_container_ref, project).pem_bundle()
            crt = tls.file_name(bundle)
            uploads[crt] = bundle
        if pool.ca_tls_container_ref:
            ca = tls.load_ca(session, pool.ca_tls_container_ref, project, "CA")
            ca_name = tls.file_name(ca)
            uploads[ca_name] = ca
            if pool.crl_container_ref:
                crl = tls.load_crl(session, pool.crl_container_ref, ca, project, "CRL", "CA")
                crl_name = tls.file_name(crl)
                uploads[crl_name] = crl
    except tls.TLSMaterialError as exc:
        raise RenderError(f"pool {pool.id}: {exc}") from None
    return PoolTLSFiles(crt, ca_name, crl_name)


def build(session: Session, lb: Any, base_path: str
          ) -> tuple[dict[str, ListenerTLSFiles], dict[str, PoolTLSFiles], dict[str, bytes]]:
    """(listener id -> files, pool id -> files, file name -> content to upload)."""
    mapping: dict[str, ListenerTLSFiles] = {}
    pools: dict[str, PoolTLSFiles] = {}
    uploads: dict[str, bytes] = {}
    if lb.enabled:
        for pool in lb.pools:
            if (pool.enabled and pool.tls_enabled
                    and pool.provisioning_status not in (c.PENDING_DELETE, c.DELETED)
                    and (pool.tls_container_ref or pool.ca_tls_container_ref)):
                pools[pool.id] = _pool_files(session, pool, uploads)
    for lis in lb.listeners:
        if not _served(lb, lis):
            continue
        try:
            names = []
            for ref in [lis.default_tls_container_ref, *(lis.sni_container_refs or [])]:
                if not ref:
                    continue
                bundle = tls.load_certificate(session, ref, lis.project_id).pem_bundle()
                names.append(tls.file_name(bundle))
                uploads[names[-1]] = bundle
            ca_name = crl_name = None
            if lis.client_ca_tls_container_ref:
                ca = tls.load_ca(session, lis.client_ca_tls_container_ref, lis.project_id)
                ca_name = tls.file_name(ca)
                uploads[ca_name] = ca
                if lis.client_crl_container_ref:
                    crl = tls.load_crl(session, lis.client_crl_container_ref, ca,
                                       lis.project_id)
                    crl_name = tls.file_name(crl)
                    uploads[crl_name] = crl
        except tls.TLSMaterialError as exc:
            raise RenderError(f"listener {lis.id}: {exc}") from None
        files = ListenerTLSFiles(names, ca_name, crl_name)
        uploads[crt_list_name(lis.id)] = render_crt_list(base_path, lb.id, lis.id,
                                                         files).encode()
        mapping[lis.id] = files
    return mapping, pools, uploads
