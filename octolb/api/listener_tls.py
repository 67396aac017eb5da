"""The TLS validations of a listener create or update (Octavia's order, octavia-v2-api
§9.2.2 steps 5-13 and 16-18), on the listener as it will be after the request.

Certificate references are read from the built-in key manager as the listener's project
(the owner of the load balancer): the worker reads them the same way when it renders, so a
reference the API accepted is one the amphora can be given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api.errors import APIError, BadRequest, NotImplementedByProvider, ValidationFailure
from octolb.certs import tls
from octolb.config import CONF

TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")
_CIPHERS = re.compile(r"[A-Za-z0-9\-+!:@=_.]+")
TLS_OFFLOAD = (c.TERMINATED_HTTPS,)


@dataclass
class TLSView:
    """The TLS-related fields of the listener after the request."""
    default_tls_container_ref: str | None
    sni_container_refs: list[str]
    client_ca_tls_container_ref: str | None
    client_authentication: str
    client_crl_container_ref: str | None
    tls_ciphers: str | None
    tls_versions: list[str] | None
    alpn_protocols: list[str] | None
    hsts_max_age: int | None
    hsts_include_subdomains: bool
    hsts_preload: bool
    insert_headers: dict

    @property
    def has_refs(self) -> bool:
        return bool(self.default_tls_container_ref or self.sni_container_refs
                    or self.client_ca_tls_container_ref or self.client_crl_container_ref)


FIELDS = tuple(TLSView.__dataclass_fields__)


def view(base, changes: dict | None = None) -> TLSView:
    """`base` (a request body or a stored listener) overlaid with `changes`."""
    values = {f: getattr(base, f, None) for f in FIELDS}
    values.update(changes or {})
    values["sni_container_refs"] = list(values["sni_container_refs"] or [])
    values["client_authentication"] = values["client_authentication"] or "NONE"
    values["insert_headers"] = dict(values["insert_headers"] or {})
    values["hsts_include_subdomains"] = bool(values["hsts_include_subdomains"])
    values["hsts_preload"] = bool(values["hsts_preload"])
    return TLSView(**values)


def defaults(protocol: str) -> dict:
    """What a TERMINATED_HTTPS listener gets when it leaves ciphers, versions and ALPN out
    (Octavia fills them from config on create; a PUT of null restores them)."""
    if protocol not in TLS_OFFLOAD:
        return {"tls_ciphers": None, "tls_versions": None, "alpn_protocols": None}
    api = CONF.api_settings
    return {"tls_ciphers": api.default_listener_ciphers,
            "tls_versions": list(api.default_listener_tls_versions),
            "alpn_protocols": list(api.default_listener_alpn_protocols)}


def check(session: Session, protocol: str, lis: TLSView, project_id: str | None,
          fetch: set[str] | None = None, update: bool = False) -> None:
    """Raise the API error Octavia gives for the first rule `lis` breaks.

    `fetch`: the reference fields whose material is read and checked (all on create, the
    ones sent on update)."""
    if protocol in (c.UDP, c.SCTP) and (lis.has_refs or lis.insert_headers):
        raise ValidationFailure(
            f"{protocol} protocol listener does not support TLS"
            + (" or header insertion." if update else "."))
    if protocol == c.TERMINATED_HTTPS and not CONF.api_settings.allow_tls_terminated_listeners:
        raise BadRequest("The selected protocol is not allowed in this deployment: "
                         "TERMINATED_HTTPS")
    if lis.has_refs and protocol not in TLS_OFFLOAD + (c.PROMETHEUS,):
        raise ValidationFailure("Certificate container references are not allowed on "
                                f"{protocol} protocol listeners.")
    server_cert = lis.default_tls_container_ref or lis.sni_container_refs
    if lis.client_ca_tls_container_ref and not server_cert:
        raise ValidationFailure("An SNI or default certificate container reference must be "
                                "provided with a client CA container reference.")
    if protocol in TLS_OFFLOAD and not server_cert:
        raise ValidationFailure("An SNI or default certificate container reference must be "
                                f"provided for {protocol} protocol listeners.")
    if lis.client_authentication != "NONE" and not lis.client_ca_tls_container_ref:
        raise ValidationFailure(f"Client authentication setting {lis.client_authentication} "
                                "requires a client CA container reference.")
    if lis.client_crl_container_ref and not lis.client_ca_tls_container_ref:
        raise ValidationFailure("A client authentication CA reference is required to specify "
                                "a client authentication revocation list.")
    if lis.tls_ciphers is not None:
        _check_ciphers(lis.tls_ciphers)
    _fetch(session, lis, project_id, fetch)
    if protocol in TLS_OFFLOAD or update:
        if lis.tls_versions is not None:
            _check_versions(lis.tls_versions)
        if lis.alpn_protocols is not None:
            _check_alpn(lis.alpn_protocols)
    if (lis.hsts_include_subdomains or lis.hsts_preload) and lis.hsts_max_age is None:
        raise ValidationFailure(
            "Cannot enable hsts_include_subdomains or hsts_preload if hsts_max_age was not "
            "set as well." if update else
            "HSTS configuration options hsts_include_subdomains and hsts_preload only make "
            "sense if hsts_max_age is set as well.")
    if lis.hsts_max_age is not None and protocol != c.TERMINATED_HTTPS:
        raise ValidationFailure("The HSTS feature can only be used for listeners using the "
                                "TERMINATED_HTTPS protocol.")


def _check_ciphers(ciphers: str) -> None:
    if not _CIPHERS.fullmatch(ciphers):
        raise ValidationFailure(f"The cipher string {ciphers!r} contains characters outside "
                                "[A-Za-z0-9-+!:@=_.].")
    prohibited = {x for x in CONF.api_settings.tls_cipher_prohibit_list.split(":") if x}
    refused = [x for x in ciphers.split(":") if x in prohibited]
    if refused:
        raise ValidationFailure("The following ciphers have been prohibited by an "
                                f"administrator: {', '.join(refused)}")


def _check_versions(versions: list[str]) -> None:
    if not versions:
        raise ValidationFailure("Empty TLS version list. Either specify at least one TLS "
                                "version or leave the field out to use the default.")
    bad = [v for v in versions if v not in TLS_VERSIONS]
    if bad:
        raise ValidationFailure(f"Invalid TLS versions: {', '.join(map(str, bad))}")
    minimum = CONF.api_settings.minimum_tls_version
    if minimum:
        low = [v for v in versions if TLS_VERSIONS.index(v) < TLS_VERSIONS.index(minimum)]
        if low:
            raise ValidationFailure(f"TLS version list {versions} is not compliant with the "
                                    f"minimum requirement of {minimum}")


def _check_alpn(protocols: list[str]) -> None:
    if not protocols:
        raise ValidationFailure("Empty ALPN protocol list. Either specify at least one ALPN "
                                "protocol or leave the field out to use the default.")
    bad = [p for p in protocols if p not in ALPN_PROTOCOLS]
    if bad:
        raise NotImplementedByProvider(f"The amphora driver supports only the ALPN protocols "
                                       f"{', '.join(ALPN_PROTOCOLS)}: {', '.join(bad)}")


def _fetch(session: Session, lis: TLSView, project_id: str | None,
           fetch: set[str] | None) -> None:
    """Read and parse the referenced material (step 13)."""
    want = set(FIELDS) if fetch is None else fetch
    try:
        if "default_tls_container_ref" in want and lis.default_tls_container_ref:
            tls.load_certificate(session, lis.default_tls_container_ref, project_id)
        if "sni_container_refs" in want:
            for ref in lis.sni_container_refs:
                tls.load_certificate(session, ref, project_id)
        ca = None
        if lis.client_ca_tls_container_ref and (
                "client_ca_tls_container_ref" in want or "client_crl_container_ref" in want):
            ca = tls.load_ca(session, lis.client_ca_tls_container_ref, project_id)
        if lis.client_crl_container_ref and ca is not None and (
                "client_crl_container_ref" in want or "client_ca_tls_container_ref" in want):
            tls.load_crl(session, lis.client_crl_container_ref, ca, project_id)
    except tls.UnreadablePKCS12 as exc:
        raise BadRequest(str(exc)) from None
    except tls.CertificateRetrievalError as exc:
        raise BadRequest(str(exc)) from None
    except tls.TLSMaterialError as exc:
        raise ValidationFailure(str(exc)) from None


# --- pools: TLS to members (re-encryption) ---------------------------------------------

POOL_FIELDS = ("tls_enabled", "tls_container_ref", "ca_tls_container_ref",
               "crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols")


def pool_defaults(tls_enabled: bool) -> dict:
    """Ciphers, versions and ALPN of a pool that leaves them out: the `[api_settings]
    default_pool_*` values when it re-encrypts (Octavia fills them then only)."""
    if not tls_enabled:
        return {"tls_ciphers": None, "tls_versions": None, "alpn_protocols": None}
    api = CONF.api_settings
    return {"tls_ciphers": api.default_pool_ciphers,
            "tls_versions": list(api.default_pool_tls_versions),
            "alpn_protocols": list(api.default_pool_alpn_protocols)}


def pool_view(base, changes: dict | None = None) -> dict:
    values = {f: getattr(base, f, None) for f in POOL_FIELDS}
    values.update(changes or {})
    values["tls_enabled"] = bool(values["tls_enabled"])
    return values


def check_pool(session: Session, pool: dict, project_id: str | None,
               fetch: set[str] | None = None, update: bool = False) -> None:
    """The TLS rules of a pool create or update (octavia-v2-api §9.3.2 step 9-10) on the
    pool as it will be; the material of the references in `fetch` (all: None) is read."""
    if pool["crl_container_ref"] and not pool["ca_tls_container_ref"]:
        raise ValidationFailure("A CA certificate reference is required to specify a "
                                "revocation list.")
    want = set(POOL_FIELDS) if fetch is None else fetch
    try:
        if pool["tls_container_ref"] and "tls_container_ref" in want:
            tls.load_certificate(session, pool["tls_container_ref"], project_id)
        if pool["ca_tls_container_ref"] and want & {"ca_tls_container_ref",
                                                    "crl_container_ref"}:
            ca = tls.load_ca(session, pool["ca_tls_container_ref"], project_id, "CA")
            if pool["crl_container_ref"]:
                tls.load_crl(session, pool["crl_container_ref"], ca, project_id, "CRL", "CA")
    except (tls.UnreadablePKCS12, tls.CertificateRetrievalError) as exc:
        raise BadRequest(str(exc)) from None
    except tls.TLSMaterialError as exc:
        raise ValidationFailure(str(exc)) from None
    if pool["tls_ciphers"] is not None:
        _check_ciphers(pool["tls_ciphers"])
    if pool["tls_enabled"] or update:
        if pool["tls_versions"] is not None:
            _check_versions(pool["tls_versions"])
        if pool["alpn_protocols"] is not None:
            _check_alpn(pool["alpn_protocols"])


__all__ = ["APIError", "TLSView", "check", "check_pool", "defaults", "pool_defaults",
           "pool_view", "view"]
