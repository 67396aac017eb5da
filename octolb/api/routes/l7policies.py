"""/v2/lbaas/l7policies and /v2/lbaas/l7policies/{id}/rules.

A policy belongs to a listener and does one thing (REJECT, REDIRECT_TO_URL,
REDIRECT_PREFIX, REDIRECT_TO_POOL) with the requests all its enabled rules match; the
listener tries its policies in `position` order (1..N, contiguous). Every string a rule or
a policy carries ends up in an HAProxy file, so the charsets below are checked here and the
renderer escapes and checks them again.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api import auth, deps, locking, quota
from octolb.api.errors import (
    BadRequest,
    Conflict,
    Immutable,
    NotFound,
    NotImplementedByProvider,
    ValidationFailure,
)
from octolb.api.query import list_resources, select_fields
from octolb.api.routes.listeners import get_listener
from octolb.api.schemas import l7policy as policy_schema
from octolb.api.schemas import l7rule as rule_schema
from octolb.api.schemas.parse import parse_body, sent, validate
from octolb.db.models import L7Policy, L7Rule, Listener, Pool

router = APIRouter()

POLICY_COLUMNS = {
    "id": L7Policy.id, "name": L7Policy.name, "description": L7Policy.description,
    "project_id": L7Policy.project_id, "listener_id": L7Policy.listener_id,
    "action": L7Policy.action, "redirect_pool_id": L7Policy.redirect_pool_id,
    "redirect_url": L7Policy.redirect_url, "redirect_prefix": L7Policy.redirect_prefix,
    "redirect_http_code": L7Policy.redirect_http_code, "position": L7Policy.position,
    "admin_state_up": L7Policy.enabled, "provisioning_status": L7Policy.provisioning_status,
    "operating_status": L7Policy.operating_status,
    "created_at": L7Policy.created_at, "updated_at": L7Policy.updated_at,
}
RULE_COLUMNS = {
    "id": L7Rule.id, "project_id": L7Rule.project_id, "type": L7Rule.type,
    "l7policy_id": L7Rule.l7policy_id,  # openstacksdk repeats the path's id as a filter
    "compare_type": L7Rule.compare_type, "key": L7Rule.key, "value": L7Rule.value,
    "invert": L7Rule.invert, "admin_state_up": L7Rule.enabled,
    "provisioning_status": L7Rule.provisioning_status,
    "operating_status": L7Rule.operating_status,
    "created_at": L7Rule.created_at, "updated_at": L7Rule.updated_at,
}
L7_LISTENER_PROTOCOLS = (c.HTTP, c.TERMINATED_HTTPS)

# RFC 7230 token (header and cookie names). Octavia's pattern has a `+-.` range that also
# lets `,` through, which inside `req.hdr(<name>)` would start a second argument.
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
# printable ASCII without space; or the same with spaces when the whole value is quoted
_HEADER_VALUE = re.compile(r"[!-~]+")
_QUOTED_HEADER_VALUE = re.compile(r'"[ -~]*"')
# RFC 6265 cookie-octet: no space, `"`, `,`, `;` or `\`
_COOKIE_VALUE = re.compile(r"[!#-+\--:<-\[\]-~]+")
_DN_FIELD = re.compile(r"[a-zA-Z][A-Za-z0-9-]*")
_SSL_TYPES = (c.L7RULE_SSL_CONN_HAS_CERT, c.L7RULE_SSL_VERIFY_RESULT, c.L7RULE_SSL_DN_FIELD)


# --- lookups ------------------------------------------------------------------------------

def get_policy(session: Session, policy_id: str, ctx: auth.Context,
               resource: str = "L7 Policy", action: str = "l7policy:get_one") -> L7Policy:
    """The policy, checked against `action` (`l7policy:*` or `l7rule:*`) on its project."""
    policy = session.get(L7Policy, policy_id)
    if policy is None or policy.provisioning_status == c.DELETED:
        raise NotFound(resource, policy_id)
    auth.enforce(ctx, action, policy.project_id)
    return policy


def get_rule(session: Session, policy: L7Policy, rule_id: str) -> L7Rule:
    rule = session.get(L7Rule, rule_id)
    if rule is None or rule.l7policy_id != policy.id or rule.provisioning_status == c.DELETED:
        raise NotFound("L7 Rule", rule_id)
    return rule


def one_policy(request: Request, policy: L7Policy) -> dict:
    return {"l7policy": select_fields(policy_schema.render(policy), request)}


def one_rule(request: Request, rule: L7Rule) -> dict:
    return {"rule": select_fields(rule_schema.render(rule), request)}


def _mandatory(name: str) -> BadRequest:
    return BadRequest(f"Invalid input for field/attribute {name}. Value: 'None'. "
                      "Mandatory field missing.")


# --- policies: validation and normalisation -----------------------------------------------

def _invalid_args(msg: str) -> BadRequest:
    return BadRequest(f"Invalid L7 Policy arguments: {msg}")


def sanitize_policy_args(args: dict, create: bool) -> dict:
    """Octavia's action/argument normalisation of the supplied keys (API reference §9.6.2):
    the action's argument must be there, a pool excludes a URL or prefix, and a redirect
    argument alone switches the action. Returns the keys to apply."""
    args = dict(args)
    action = args.get("action")
    if "action" in args:
        if action == c.REJECT:
            args.update(redirect_url=None, redirect_pool_id=None)
            if not create:
                args.update(redirect_prefix=None, redirect_http_code=None)
        elif action == c.REDIRECT_TO_URL:
            if not args.get("redirect_url"):
                raise _invalid_args("redirect_url must not be None")
            args["redirect_pool_id"] = None
        elif action == c.REDIRECT_TO_POOL:
            if not args.get("redirect_pool_id"):
                raise _invalid_args("redirect_pool_id or redirect_pool must not be None")
            args["redirect_url"] = None
        elif action == c.REDIRECT_PREFIX:
            if not args.get("redirect_prefix"):
                raise _invalid_args("redirect_prefix must not be None")
        else:
            raise BadRequest(f"Invalid L7 Policy action specified: {action}")
    if args.get("redirect_pool_id") and (args.get("redirect_url")
                                         or args.get("redirect_prefix")):
        raise _invalid_args("Cannot specify redirect_pool_id and redirect_url or "
                            "redirect_prefix at the same time")
    if args.get("redirect_pool_id"):
        args.update(action=c.REDIRECT_TO_POOL, redirect_url=None, redirect_prefix=None,
                    redirect_http_code=None)
    if args.get("redirect_url"):
        args.update(action=c.REDIRECT_TO_URL, redirect_pool_id=None, redirect_prefix=None)
        if not args.get("redirect_http_code"):
            args["redirect_http_code"] = c.DEFAULT_REDIRECT_HTTP_CODE
    if args.get("redirect_prefix"):
        args.update(action=c.REDIRECT_PREFIX, redirect_pool_id=None, redirect_url=None)
        if not args.get("redirect_http_code"):
            args["redirect_http_code"] = c.DEFAULT_REDIRECT_HTTP_CODE
    if create and not args.get("action"):
        raise BadRequest("Invalid L7 Policy action specified: None")
    return args


def _normalise(policy: L7Policy) -> None:
    """The stored policy carries exactly its action's argument (and a code for redirects);
    an update that leaves the action without its argument is refused."""
    action = policy.action
    if action in (c.REJECT, c.REDIRECT_TO_POOL):
        policy.redirect_url = policy.redirect_prefix = policy.redirect_http_code = None
        if action == c.REJECT:
            policy.redirect_pool_id = None
        elif not policy.redirect_pool_id:
            raise _invalid_args("redirect_pool_id or redirect_pool must not be None")
        return
    policy.redirect_pool_id = None
    if action == c.REDIRECT_TO_URL:
        policy.redirect_prefix = None
        if not policy.redirect_url:
            raise _invalid_args("redirect_url must not be None")
    else:
        policy.redirect_url = None
        if not policy.redirect_prefix:
            raise _invalid_args("redirect_prefix must not be None")
    if policy.redirect_http_code is None:
        policy.redirect_http_code = c.DEFAULT_REDIRECT_HTTP_CODE


def _check_listener(listener: Listener) -> None:
    if listener.protocol == c.PROMETHEUS:
        raise BadRequest("Protocol PROMETHEUS listeners cannot have child objects.")
    if listener.protocol not in L7_LISTENER_PROTOCOLS:
        raise NotImplementedByProvider(
            f"{listener.protocol} protocol listeners do not support L7 policies")


def _check_redirect_pool(session: Session, listener: Listener, pool_id: str | None) -> None:
    """Same load balancer (hence project) and a protocol the listener can send to."""
    if not pool_id:
        return
    pool = session.get(Pool, pool_id)
    if (pool is None or pool.provisioning_status in (c.DELETED, c.PENDING_DELETE)
            or pool.load_balancer_id != listener.load_balancer_id):
        raise NotFound("Pool", pool_id)
    if pool.protocol not in c.LISTENER_POOL_PROTOCOLS.get(listener.protocol, ()):
        raise ValidationFailure(f"The pool protocol '{pool.protocol}' is invalid while the "
                                f"listener protocol is '{listener.protocol}'.")


def place(listener: Listener, policy: L7Policy, position: int | None) -> None:
    """Put `policy` at `position` (1-based) among the listener's live policies; others
    shift down, a position past the end (or none) appends; numbering stays 1..N."""
    others = sorted((p for p in listener.l7policies
                     if p is not policy and p.provisioning_status != c.DELETED),
                    key=lambda p: p.position)
    index = len(others) if position is None or position > len(others) else position - 1
    others.insert(index, policy)
    for number, p in enumerate(others, start=1):
        if p.position != number:
            p.position = number


def renumber(listener: Listener) -> None:
    """After a policy left: 1..N again, order kept."""
    live = sorted((p for p in listener.l7policies if p.provisioning_status != c.DELETED),
                  key=lambda p: p.position)
    for number, p in enumerate(live, start=1):
        if p.position != number:
            p.position = number


# --- rules: Octavia's type x compare_type x key/value matrix ------------------------------

def _rule_error(reason: str) -> BadRequest:
    return BadRequest(f"Error parsing L7Rule: {reason}")


def _invalid_rule(msg: str) -> BadRequest:
    return _rule_error(f"Invalid L7 Rule: {msg}")


def _regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise _rule_error(f"Unable to parse regular expression: {exc}") from None


def _header_value(value: str, what: str) -> None:
    if not (_HEADER_VALUE.fullmatch(value) or _QUOTED_HEADER_VALUE.fullmatch(value)):
        raise _rule_error(f"Invalid characters in {what}")


def validate_rule(rtype: str | None, compare: str | None, key: str | None,
                  value: str | None) -> None:
    """400 `Error parsing L7Rule: …` unless the rule can be rendered as the tenant means."""
    if rtype is None:
        raise _invalid_rule("invalid rule type")
    if rtype in _SSL_TYPES:
        _validate_ssl_rule(rtype, compare, key, value)
        return
    if not value:
        raise _invalid_rule("L7 rule type requires a value")
    if compare is None:
        raise _invalid_rule("invalid comparison type for rule type")
    if rtype in (c.L7RULE_HEADER, c.L7RULE_COOKIE):
        if not key:
            raise _invalid_rule("L7 rule type requires a key")
        if not _TOKEN.fullmatch(key):
            raise _rule_error("Invalid characters in key")
        if compare == c.REGEX:
            _regex(value)
        elif rtype == c.L7RULE_HEADER:
            _header_value(value, "header value")
        elif not _COOKIE_VALUE.fullmatch(value):
            raise _rule_error("Invalid characters in cookie value")
    elif rtype in (c.L7RULE_HOST_NAME, c.L7RULE_PATH):
        if compare == c.REGEX:
            _regex(value)
        else:
            _header_value(value, "comparison value")
    elif rtype == c.L7RULE_FILE_TYPE:
        if compare == c.REGEX:
            _regex(value)
        elif compare == c.EQUAL_TO:
            _header_value(value, "comparison value")
        else:
            raise _invalid_rule("invalid comparison type for rule type")
    else:
        raise _invalid_rule("invalid rule type")


def _validate_ssl_rule(rtype: str, compare: str | None, key: str | None,
                       value: str | None) -> None:
    value = value or ""
    msg = None
    if rtype == c.L7RULE_SSL_CONN_HAS_CERT:
        if key:
            msg = f'L7rule type {rtype} does not use the "key" field.'
        elif value.lower() != "true":
            msg = f"L7rule value {value} is not a boolean True string."
        elif compare != c.EQUAL_TO:
            msg = f"L7rule type {rtype} only supports the {c.EQUAL_TO} compare type."
    elif rtype == c.L7RULE_SSL_VERIFY_RESULT:
        if key:
            msg = f'L7rule type {rtype} does not use the "key" field.'
        elif not (value.isascii() and value.isdigit()):
            msg = f"L7rule type {rtype} needs a int value, which is >= 0"
        elif compare != c.EQUAL_TO:
            msg = f"L7rule type {rtype} only supports the {c.EQUAL_TO} compare type."
    else:  # SSL_DN_FIELD
        if compare == c.REGEX:
            _regex(value)
        if not key or not value:
            msg = f"L7rule type {rtype} needs to specify a key and a value."
        elif not _DN_FIELD.fullmatch(key):
            msg = "Invalid L7rule distinguished name field."
        elif compare is None:
            msg = "invalid comparison type for rule type"
    if msg:
        raise _invalid_rule(msg)


def _new_rule(policy: L7Policy, body: rule_schema.L7RulePOST) -> L7Rule:
    return L7Rule(
        project_id=policy.project_id, l7policy=policy, type=body.type,
        compare_type=body.compare_type, key=body.key, value=body.value,
        invert=bool(body.invert), enabled=bool(body.admin_state_up),
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE,
        tags=body.tags or [])


def _parse_new_rule(body: rule_schema.L7RulePOST) -> rule_schema.L7RulePOST:
    for name in ("type", "compare_type", "value"):
        if getattr(body, name) is None:
            raise _mandatory(name)
    validate_rule(body.type, body.compare_type, body.key, body.value)
    return body


def parse_new_rules(raws: list | None, where: str) -> list[rule_schema.L7RulePOST]:
    """The `rules` given with a new policy, each validated as a rule create."""
    return [_parse_new_rule(validate(rule_schema.L7RulePOST, raw, where)) for raw in raws or []]


def check_new_policy(session: Session, listener: Listener, args: dict,
                     rules: list) -> None:
    """The checks of a new policy (sanitised `args`) and its rules on `listener`."""
    _check_listener(listener)
    _check_redirect_pool(session, listener, args.get("redirect_pool_id"))
    if len(rules) > c.MAX_L7RULES_PER_L7POLICY:
        raise ValidationFailure(f"A policy may hold at most {c.MAX_L7RULES_PER_L7POLICY} "
                                "rules.")


def add_policy(session: Session, listener: Listener, body, args: dict,
               rules: list) -> L7Policy:
    """Add the PENDING_CREATE policy and its rules at its position on `listener`."""
    with session.no_autoflush:  # inserted once, with its final position
        policy = L7Policy(
            project_id=listener.project_id, listener=listener, name=body.name,
            description=body.description, enabled=bool(body.admin_state_up),
            provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE,
            tags=body.tags or [], position=c.MAX_POLICY_POSITION, **args)
        _normalise(policy)
        place(listener, policy, body.position)
    session.add(policy)
    for rule in rules:
        session.add(_new_rule(policy, rule))
    return policy


# --- policy routes ------------------------------------------------------------------------

@router.get("/l7policies")
def list_policies(request: Request, session: Session = Depends(deps.db),
                  ctx: auth.Context = Depends(auth.context)):
    where = [L7Policy.provisioning_status != c.DELETED]
    project = auth.list_scope(ctx, "l7policy", request)
    if project is not None:
        where.append(L7Policy.project_id == project)
    return list_resources(request, session, L7Policy, plural="l7policies",
                          columns=POLICY_COLUMNS, render=policy_schema.render, where=where)


@router.post("/l7policies", status_code=201)
async def create_policy(request: Request, session: Session = Depends(deps.db),
                        ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "l7policy", policy_schema.L7PolicyPOST,
                      "l7policy_")
    for name in ("listener_id", "action"):
        if getattr(body, name) is None:
            raise _mandatory(name)
    args = sanitize_policy_args(
        {k: getattr(body, k) for k in ("action", "redirect_pool_id", "redirect_url",
                                       "redirect_prefix", "redirect_http_code")},
        create=True)
    rules = parse_new_rules(body.rules, "l7policy_.rules")
    listener = get_listener(session, body.listener_id, ctx, "l7policy:post")
    check_new_policy(session, listener, args, rules)
    quota.check_and_reserve(session, listener.project_id, "l7policy")
    if rules:
        quota.check_and_reserve(session, listener.project_id, "l7rule", len(rules))
    locking.take_lb(session, listener.load_balancer)
    policy = add_policy(session, listener, body, args, rules)
    locking.mark_pending_update(listener)
    session.commit()
    deps.notify(request, listener.load_balancer_id)
    return one_policy(request, policy)


@router.get("/l7policies/{policy_id}")
def show_policy(policy_id: str, request: Request, session: Session = Depends(deps.db),
                ctx: auth.Context = Depends(auth.context)):
    return one_policy(request, get_policy(session, policy_id, ctx))


@router.put("/l7policies/{policy_id}")
async def update_policy(policy_id: str, request: Request, session: Session = Depends(deps.db),
                        ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "l7policy", policy_schema.L7PolicyPUT,
                      "l7policy_")
    fields = sent(body)
    redirect_keys = ("action", "redirect_pool_id", "redirect_url", "redirect_prefix",
                     "redirect_http_code")
    if not fields:
        raise _invalid_args("Invalid update options")
    if "action" in fields and body.action is None:
        raise BadRequest("Invalid L7 Policy action specified: None")
    args = sanitize_policy_args({k: getattr(body, k) for k in redirect_keys if k in fields},
                                create=False)
    policy = get_policy(session, policy_id, ctx, action="l7policy:put")
    listener = policy.listener
    _check_listener(listener)
    _check_redirect_pool(session, listener, args.get("redirect_pool_id"))
    locking.take_lb(session, listener.load_balancer)
    try:
        for key, value in args.items():
            setattr(policy, key, value)
        _normalise(policy)
    except BadRequest:
        session.rollback()
        raise
    for f in fields - set(redirect_keys):
        value = getattr(body, f)
        if f == "admin_state_up":
            if value is not None:
                policy.enabled = bool(value)
        elif f == "tags":
            policy.tags = value or []
        elif f == "position":
            place(listener, policy, value)
        else:
            setattr(policy, f, value)
    policy.provisioning_status = c.PENDING_UPDATE
    locking.mark_pending_update(listener)
    session.commit()
    deps.notify(request, listener.load_balancer_id)
    return one_policy(request, policy)


@router.delete("/l7policies/{policy_id}", status_code=204)
def delete_policy(policy_id: str, request: Request, session: Session = Depends(deps.db),
                  ctx: auth.Context = Depends(auth.context)):
    policy = get_policy(session, policy_id, ctx, action="l7policy:delete")
    listener = policy.listener
    locking.take_lb(session, listener.load_balancer)
    policy.provisioning_status = c.PENDING_DELETE
    locking.mark_pending_update(listener)
    session.commit()
    deps.notify(request, listener.load_balancer_id)
    return Response(status_code=204)


# --- rule routes --------------------------------------------------------------------------

def _lock_for_rule(session: Session, policy: L7Policy) -> None:
    """The policy must be ACTIVE, then the LB is taken; LB, listener and policy go
    PENDING_UPDATE."""
    if policy.provisioning_status != c.ACTIVE:
        raise Immutable("L7Policy", policy.id)
    locking.take_lb(session, policy.listener.load_balancer)
    policy.provisioning_status = c.PENDING_UPDATE
    locking.mark_pending_update(policy.listener)


@router.get("/l7policies/{policy_id}/rules")
def list_rules(policy_id: str, request: Request, session: Session = Depends(deps.db),
               ctx: auth.Context = Depends(auth.context)):
    policy = get_policy(session, policy_id, ctx, "L7Policy", "l7rule:get_all")
    return list_resources(request, session, L7Rule, plural="rules", columns=RULE_COLUMNS,
                          render=rule_schema.render,
                          where=[L7Rule.l7policy_id == policy.id,
                                 L7Rule.provisioning_status != c.DELETED])


@router.post("/l7policies/{policy_id}/rules", status_code=201)
async def create_rule(policy_id: str, request: Request, session: Session = Depends(deps.db),
                      ctx: auth.Context = Depends(auth.context)):
    body = _parse_new_rule(parse_body(await request.body(), "rule", rule_schema.L7RulePOST,
                                      "rule_"))
    policy = get_policy(session, policy_id, ctx, "L7Policy", "l7rule:post")
    if policy.provisioning_status != c.ACTIVE:
        raise Immutable("L7Policy", policy.id)
    if len(policy.rules) >= c.MAX_L7RULES_PER_L7POLICY:
        raise Conflict(f"Too many rules on L7 policy {policy.id}")
    quota.check_and_reserve(session, policy.project_id, "l7rule")
    _lock_for_rule(session, policy)
    rule = _new_rule(policy, body)
    session.add(rule)
    session.commit()
    deps.notify(request, policy.listener.load_balancer_id)
    return one_rule(request, rule)


@router.get("/l7policies/{policy_id}/rules/{rule_id}")
def show_rule(policy_id: str, rule_id: str, request: Request,
              session: Session = Depends(deps.db), ctx: auth.Context = Depends(auth.context)):
    policy = get_policy(session, policy_id, ctx, "L7Policy", "l7rule:get_one")
    return one_rule(request, get_rule(session, policy, rule_id))


@router.put("/l7policies/{policy_id}/rules/{rule_id}")
async def update_rule(policy_id: str, rule_id: str, request: Request,
                      session: Session = Depends(deps.db),
                      ctx: auth.Context = Depends(auth.context)):
    body = parse_body(await request.body(), "rule", rule_schema.L7RulePUT, "rule_")
    policy = get_policy(session, policy_id, ctx, "L7Policy", "l7rule:put")
    rule = get_rule(session, policy, rule_id)
    fields = sent(body)
    merged = {k: getattr(body, k) if k in fields else getattr(rule, k)
              for k in ("type", "compare_type", "key", "value")}
    validate_rule(merged["type"], merged["compare_type"], merged["key"], merged["value"])
    _lock_for_rule(session, policy)
    for f in fields:
        value = getattr(body, f)
        if f == "admin_state_up":
            if value is not None:
                rule.enabled = bool(value)
        elif f == "invert":
            rule.invert = bool(value)
        elif f == "tags":
            rule.tags = value or []
        else:
            setattr(rule, f, value)
    rule.provisioning_status = c.PENDING_UPDATE
    session.commit()
    deps.notify(request, policy.listener.load_balancer_id)
    return one_rule(request, rule)


@router.delete("/l7policies/{policy_id}/rules/{rule_id}", status_code=204)
def delete_rule(policy_id: str, rule_id: str, request: Request,
                session: Session = Depends(deps.db), ctx: auth.Context = Depends(auth.context)):
    policy = get_policy(session, policy_id, ctx, "L7Policy", "l7rule:delete")
    rule = get_rule(session, policy, rule_id)
    _lock_for_rule(session, policy)
    rule.provisioning_status = c.PENDING_DELETE
    session.commit()
    deps.notify(request, policy.listener.load_balancer_id)
    return Response(status_code=204)
