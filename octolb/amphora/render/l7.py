"""A listener's L7 policies and rules as frontend lines: ACLs, `http-request` actions and
`use_backend` switches (HTTP listeners only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from octolb import constants as c
from octolb.amphora.render import values as v
from octolb.amphora.render.errors import RenderError
from octolb.amphora.render.model import Acl, Backend, L7Block, attr, enabled, live

# L7 rule compare_type -> ACL match method; the transaction variable that records which
# REDIRECT_TO_POOL policy matched when later policies act in the http-request phase
_L7_MATCH = {c.REGEX: "-m reg", c.STARTS_WITH: "-m beg", c.ENDS_WITH: "-m end",
             c.CONTAINS: "-m sub", c.EQUAL_TO: "-m str"}
L7_VAR = "txn.octolb_l7_policy"


def l7_blocks(listener: Any, mode: str, backends: list[Backend],
              backend_for: Callable[[Any], Backend]) -> list[L7Block]:
    """The listener's L7 policies as frontend lines, first match wins.

    As Octavia: in `position` order, each policy's enabled rules ANDed (`!` for
    `invert`), a disabled policy or one without enabled rules left out, REDIRECT_TO_POOL
    only when the pool is enabled (its backend, made by `backend_for(pool)`, is added to
    `backends` once). Unlike Octavia's rendering, the order also holds across actions:
    HAProxy runs every `http-request` rule before any `use_backend`, so a REDIRECT_TO_POOL
    policy that precedes a REJECT or redirect one decides in the `http-request` phase (it
    records its id in a transaction variable that the later policies then skip on) and its
    `use_backend` follows the last `http-request` line.
    """
    if mode != "http":
        return []
    chosen = []
    for policy in sorted(attr(listener, "l7policies", []),
                         key=lambda p: attr(p, "position", 0)):
        if not (enabled(policy) and live(policy)):
            continue
        rules = [r for r in attr(policy, "rules", []) if enabled(r) and live(r)]
        if not rules:
            continue
        action = attr(policy, "action")
        pool = getattr(policy, "redirect_pool", None)
        if action == c.REDIRECT_TO_POOL and not (
                pool is not None and enabled(pool) and live(pool)):
            continue
        chosen.append((policy, rules, action, pool))
    last_http_request = max((i for i, (_p, _r, action, _pl) in enumerate(chosen)
                             if action != c.REDIRECT_TO_POOL), default=-1)
    blocks: list[L7Block] = []
    decided: list[L7Block] = []  # use_backend lines of policies decided by a variable
    for index, (policy, rules, action, pool) in enumerate(chosen):
        pid = v.uuid_id(policy.id, "l7policy id")
        what = f"l7policy {pid}"
        acls = [_acl(rule, what) for rule in rules]
        terms = " ".join(("!" if attr(rule, "invert", False) else "") + acl.name
                         for rule, acl in zip(rules, acls, strict=True))
        guard = f"!{{ var({L7_VAR}) -m found }} " if decided else ""
        if action == c.REDIRECT_TO_POOL:
            backend = next((b for b in backends if b.name.startswith(f"{pool.id}:")),
                           None)
            if backend is None:
                backend = backend_for(pool)
                backends.append(backend)
            if index < last_http_request:
                blocks.append(L7Block(acls, f"http-request set-var({L7_VAR}) str({pid})",
                                      guard + terms))
                decided.append(L7Block([], f"use_backend {backend.name}",
                                       f"{{ var({L7_VAR}) -m str {pid} }}"))
            else:
                blocks.append(L7Block(acls, f"use_backend {backend.name}", terms))
        elif action == c.REJECT:
            blocks.append(L7Block(acls, "http-request deny", guard + terms))
        elif action in (c.REDIRECT_TO_URL, c.REDIRECT_PREFIX):
            kind, target = (("location", attr(policy, "redirect_url"))
                            if action == c.REDIRECT_TO_URL
                            else ("prefix", attr(policy, "redirect_prefix")))
            code = v.redirect_code(attr(policy, "redirect_http_code", 302),
                                   f"{what} redirect_http_code")
            blocks.append(L7Block(
                acls, f"http-request redirect {kind} "
                      f"{v.redirect_target(target, f'{what} redirect {kind}')} code {code}",
                guard + terms))
        else:
            raise RenderError(f"{what}: unknown action {action!r}")
        if index == last_http_request:
            blocks.extend(decided)
    return blocks


def _acl(rule: Any, what: str) -> Acl:
    """One rule as an ACL named after it (Octavia's mapping, amphora-and-controller
    §9.8); the pattern follows `--`, so a value starting with `-` is not a flag."""
    name = v.uuid_id(rule.id, f"{what} rule id")
    rwhat = f"{what} rule {name}"
    rtype, compare = rule.type, rule.compare_type
    if rtype == c.L7RULE_SSL_CONN_HAS_CERT:
        return Acl(name, "ssl_c_used", None)
    if rtype == c.L7RULE_SSL_VERIFY_RESULT:
        result = attr(rule, "value", "")
        if not (isinstance(result, str) and result.isascii() and result.isdigit()):
            raise RenderError(f"{rwhat}: SSL_VERIFY_RESULT needs an integer: {result!r}")
        return Acl(name, f"ssl_c_verify eq {int(result)}", None)
    if compare not in _L7_MATCH:
        raise RenderError(f"{rwhat}: unknown compare_type {compare!r}")
    match = _L7_MATCH[compare]
    if rtype == c.L7RULE_HOST_NAME:
        criterion = f"req.hdr(host) -i {match}"
    elif rtype == c.L7RULE_PATH:
        criterion = f"path {match}"
    elif rtype == c.L7RULE_FILE_TYPE:
        if compare not in (c.EQUAL_TO, c.REGEX):
            raise RenderError(f"{rwhat}: FILE_TYPE compares with EQUAL_TO or REGEX only")
        criterion = "path_end" if compare == c.EQUAL_TO else f"path_end {match}"
    elif rtype == c.L7RULE_HEADER:
        criterion = f"req.hdr({v.http_token(rule.key, f'{rwhat} key')}) {match}"
    elif rtype == c.L7RULE_COOKIE:
        criterion = f"req.cook({v.http_token(rule.key, f'{rwhat} key')}) {match}"
    elif rtype == c.L7RULE_SSL_DN_FIELD:
        criterion = f"ssl_c_s_dn({v.dn_field(rule.key, f'{rwhat} key')}) {match}"
    else:
        raise RenderError(f"{rwhat}: unknown rule type {rtype!r}")
    return Acl(name, criterion, v.acl_pattern(rule.value, compare == c.REGEX,
                                              f"{rwhat} value"))
