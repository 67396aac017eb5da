"""Validation and HAProxy escaping of every value that lands in a rendered file.

Each function takes one raw value from the object graph and returns the exact text to
put in the configuration, or raises RenderError. The API validates first (DESIGN
principle 7); these checks are the second line of defence, so they are strict: anything
that could end a line, open a quote or start a comment is either escaped in a way proven
against HAProxy 2.6 (see tests/unit/test_render.py) or refused.

HAProxy's line parser, outside quotes: whitespace separates arguments, `#` starts a
comment, `'` and `"` open quotes, `\\` escapes the next character. `$` is only expanded
inside double quotes, so it is literal here.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Any

from octolb import constants as c
from octolb.amphora.render.errors import RenderError

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# RFC 3986 path + query characters (no fragment: `#` is never sent and is HAProxy's comment)
_URL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")
_HOSTNAME_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
# RFC 6265 cookie-name = token
_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,255}")
_EXPECTED_LIST = re.compile(r"\d{3}(\s*,\s*\d{3})*")
_EXPECTED_RANGE = re.compile(r"(\d{3})\s*-\s*(\d{3})")
_CIPHERS = re.compile(r"[A-Za-z0-9!+@=:,._-]{1,2048}")
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
_LOG_TARGET = re.compile(r"[A-Za-z0-9._/:@\[\]-]{1,255}")
_SIZE = re.compile(r"[0-9]{1,9}[kmg]?")
_DURATION = re.compile(r"[0-9]{1,9}(us|ms|s|m|h|d)?")

ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")
TLS_VERSIONS = {"SSLv3": "no-sslv3", "TLSv1": "no-tlsv10", "TLSv1.1": "no-tlsv11",
                "TLSv1.2": "no-tlsv12", "TLSv1.3": "no-tlsv13"}
UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL


def reject_control(value: str, what: str) -> str:
    """Refuse newlines, carriage returns and every other control or separator character."""
    if not isinstance(value, str):
        raise RenderError(f"{what} must be a string, got {type(value).__name__}")
    for ch in value:
        if ord(ch) < 0x20 or ord(ch) == 0x7F or unicodedata.category(ch) in (
                "Cc", "Cf", "Zl", "Zp"):
            raise RenderError(f"{what} contains a control character ({ch!r}): {value!r}")
    return value


def uuid_id(value: Any, what: str) -> str:
    """An object ID: rendered as proxy/server names and socket paths, so UUID-shaped only."""
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise RenderError(f"{what} is not UUID-shaped: {value!r}")
    return value


def integer(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RenderError(f"{what} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise RenderError(f"{what} must be between {low} and {high}, got {value}")
    return value


def port(value: Any, what: str) -> int:
    return integer(value, what, 1, 65535)


def ip_literal(value: Any, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 or IPv6 literal (no host names, no IPv6 zone: HAProxy 2.6 cannot parse one)."""
    reject_control(value, what)
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise RenderError(f"{what} is not an IP address: {value!r}") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        raise RenderError(f"{what} has an IPv6 zone, which HAProxy cannot use: {value!r}")
    return ip


def endpoint(address: Any, port_number: Any, what: str) -> str:
    """`<addr>:<port>` for `bind`, `server` and `peer` lines.

    HAProxy takes the last colon as the port separator, so `fd00::1:80` is address
    fd00::1, port 80 (verified with `show servers state`). Brackets are accepted by 2.6
    too, but this unbracketed form is what HAProxy documents and Octavia renders.
    """
    ip = ip_literal(address, f"{what} address")
    return f"{ip.compressed}:{port(port_number, f'{what} port')}"


def bare_address(address: Any, what: str) -> str:
    """An address without port, for the server `addr` keyword.

    A bare IPv6 address is misread there (`addr ::1` fails: the last colon is taken as the
    port separator), so IPv6 gets an empty port: `addr fd00::1:`.
    """
    ip = ip_literal(address, what)
    return f"{ip.compressed}:" if ip.version == 6 else ip.compressed


def cidr(value: Any, what: str) -> str:
    """A source network for the `src` ACL of allowed_cidrs, in its network form
    (`192.0.2.7/24` -> `192.0.2.0/24`); a bare address is a /32 or /128."""
    reject_control(value, what)
    if "%" in value:
        raise RenderError(f"{what} has an IPv6 zone, which HAProxy cannot use: {value!r}")
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise RenderError(f"{what} is not an IPv4 or IPv6 CIDR: {value!r}") from None
    return network.compressed


def url_path(value: Any) -> str:
    """A health-check request target: RFC 3986 path and query; `'` escaped for HAProxy."""
    reject_control(value, "health monitor url_path")
    if not _URL_PATH.fullmatch(value) or len(value) > 2048:
        raise RenderError(f"health monitor url_path is not a valid URL path: {value!r}")
    return value.replace("'", "\\'")


def http_method(value: Any) -> str:
    if value not in c.HTTP_METHODS:
        raise RenderError(f"health monitor http_method is not one of {c.HTTP_METHODS}: "
                          f"{value!r}")
    return value


def http_version(value: Any) -> str | None:
    """None (HAProxy sends HTTP/1.0 with no version given), `1.0` or `1.1`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RenderError(f"health monitor http_version must be 1.0 or 1.1: {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise RenderError(f"health monitor http_version must be 1.0 or 1.1: {value!r}") from None
    for known in ("1.0", "1.1"):
        if abs(number - float(known)) < 1e-9:
            return known
    raise RenderError(f"health monitor http_version must be 1.0 or 1.1: {value!r}")


def domain_name(value: Any) -> str:
    reject_control(value, "health monitor domain_name")
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    if not 0 < len(value) <= 255 or not all(_HOSTNAME_LABEL.fullmatch(lb) for lb in labels):
        raise RenderError(f"health monitor domain_name is not a host name: {value!r}")
    return value


def expected_codes_regex(value: Any) -> str:
    """Octavia's expected_codes (`200`, `200,202`, `200, 204`, `200-204`) as the
    alternation HAProxy's `http-check expect rstatus` matches against the 3-digit status.

    Codes are sorted (Octavia keeps set order) so the rendered file, and its hash, is
    stable.
    """
    reject_control(value, "health monitor expected_codes")
    text = value.strip()
    if _EXPECTED_LIST.fullmatch(text):
        codes = {int(code) for code in text.split(",")}
    elif m := _EXPECTED_RANGE.fullmatch(text):
        low, high = int(m.group(1)), int(m.group(2))
        if low > high:
            raise RenderError(f"health monitor expected_codes range is reversed: {value!r}")
        codes = set(range(low, high + 1))
    else:
        raise RenderError(f"health monitor expected_codes is not NNN, NNN,NNN or NNN-NNN: "
                          f"{value!r}")
    if any(not 100 <= code <= 599 for code in codes):
        raise RenderError(f"health monitor expected_codes outside 100-599: {value!r}")
    return "|".join(str(code) for code in sorted(codes))


def cookie_name(value: Any) -> str:
    """An RFC 6265 cookie name as an argument of `req.cook()` / `res.cook()`.

    Two characters of the token set are special to HAProxy: `#` (escaped for the line
    parser) and `'` (a quote for both the line parser and the sample-fetch argument
    parser, so it is escaped twice: `\\\\\\'`). Both verified against HAProxy 2.6.
    """
    reject_control(value, "session persistence cookie_name")
    if not _COOKIE_NAME.fullmatch(value):
        raise RenderError(f"session persistence cookie_name is not a cookie token: {value!r}")
    return value.replace("#", "\\#").replace("'", "\\\\\\'")


def log_format_literal(value: str, what: str) -> str:
    """Text to appear literally inside a log-format string: `%` doubled, then escaped
    for the line parser (space, backslash, quotes, `#`)."""
    reject_control(value, what)
    out = value.replace("%", "%%")
    for ch in ("\\", " ", "'", '"', "#"):
        out = out.replace(ch, "\\" + ch)
    return out


def log_format(template: str) -> str:
    """An operator's log-format: its variables are kept, spaces and quotes are escaped."""
    reject_control(template, "user_log_format")
    out = template
    for ch in ("\\", " ", "'", '"', "#"):
        out = out.replace(ch, "\\" + ch)
    return out


def ciphers(value: Any, what: str) -> str:
    reject_control(value, what)
    if not _CIPHERS.fullmatch(value):
        raise RenderError(f"{what} is not an OpenSSL cipher list: {value!r}")
    return value


def alpn_list(values: Any, what: str) -> str:
    if not isinstance(values, list | tuple) or not values:
        raise RenderError(f"{what} must be a non-empty list: {values!r}")
    for value in values:
        if value not in ALPN_PROTOCOLS:
            raise RenderError(f"{what} contains {value!r}, not one of {ALPN_PROTOCOLS}")
    return ",".join(values)


def excluded_tls_versions(values: Any, what: str) -> list[str]:
    """The `no-…` keywords for every TLS version not in the allowed list."""
    if not isinstance(values, list | tuple):
        raise RenderError(f"{what} must be a list: {values!r}")
    for value in values:
        if value not in TLS_VERSIONS:
            raise RenderError(f"{what} contains {value!r}, not one of {tuple(TLS_VERSIONS)}")
    return [keyword for version, keyword in TLS_VERSIONS.items() if version not in values]


def absolute_path(value: Any, what: str) -> str:
    """A file system path chosen by the operator or agent: plain characters only."""
    reject_control(value, what)
    if not _SAFE_PATH.fullmatch(value):
        raise RenderError(f"{what} must be an absolute path of [A-Za-z0-9._/-]: {value!r}")
    return value.rstrip("/") or "/"



def log_target(value: Any) -> str:
    """Where HAProxy sends logs: a unix socket path, `ip:port`, `stdout`/`stderr`."""
    reject_control(value, "log_target")
    if not _LOG_TARGET.fullmatch(value):
        raise RenderError(f"log_target has characters HAProxy would misparse: {value!r}")
    return value


def size(value: Any, what: str) -> str:
    """An HAProxy size such as `10k`."""
    if not isinstance(value, str) or not _SIZE.fullmatch(value):
        raise RenderError(f"{what} must be a size such as 10k: {value!r}")
    return value


def duration(value: Any, what: str) -> str:
    """An HAProxy duration such as `30s`."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return f"{value}s"
    if not isinstance(value, str) or not _DURATION.fullmatch(value):
        raise RenderError(f"{what} must be a duration such as 30s: {value!r}")
    return value


# --- L7 policies and rules ---------------------------------------------------------------

_HTTP_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,255}")
_DN_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,254}")
# RFC 3986 characters, `%` only as a percent-encoding: no space, quote, backslash or `%[`
_REDIRECT_TARGET = re.compile(
    r"https?://(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_QUOTED_VALUE = re.compile(r'"[ -~]*"')
_LINE_SPECIALS = ("\\", " ", "'", '"', "#")


def _escape_line(value: str) -> str:
    """One word for HAProxy's line parser, read back literally: backslash, space, quotes
    and `#` get a backslash (quotes would open a quoted string, `#` a comment)."""
    out = value
    for ch in _LINE_SPECIALS:
        out = out.replace(ch, "\\" + ch)
    return out


def http_token(value: Any, what: str) -> str:
    """A header or cookie name (RFC 7230 token) as the argument of `req.hdr()` /
    `req.cook()`: `#` and `'` escaped as for cookie_name; `,` and `)` cannot occur."""
    reject_control(value, what)
    if not _HTTP_TOKEN.fullmatch(value):
        raise RenderError(f"{what} is not an HTTP token: {value!r}")
    return value.replace("#", "\\#").replace("'", "\\\\\\'")


def dn_field(value: Any, what: str) -> str:
    """A distinguished-name attribute (`CN`, `OU`, `emailAddress`) for `ssl_c_s_dn()`."""
    reject_control(value, what)
    if not _DN_FIELD.fullmatch(value):
        raise RenderError(f"{what} is not a distinguished name field: {value!r}")
    return value


def acl_pattern(value: Any, regex: bool, what: str) -> str:
    """An L7 rule value as one ACL pattern, matched literally (or as the regex given).

    A value wholly in double quotes is its content (Octavia's quoted header value, which
    HAProxy unquotes too); the pattern is written after `--`, so a leading `-` is no
    flag. Every character HAProxy's line parser treats specially is escaped, so the
    pattern HAProxy compares with is exactly the tenant's text.
    """
    reject_control(value, what)
    if not value:
        raise RenderError(f"{what} is empty")
    if len(value) > 255:
        raise RenderError(f"{what} is longer than 255 characters")
    if regex:
        try:
            re.compile(value)
        except re.error as exc:
            raise RenderError(f"{what} is not a regular expression: {exc}") from None
    elif _QUOTED_VALUE.fullmatch(value):
        value = value[1:-1]
    return "-- " + (_escape_line(value) if value else '""')


def redirect_target(value: Any, what: str) -> str:
    """The URL or prefix of `http-request redirect location|prefix`, a log-format
    string there: `%` doubled, then escaped for the line parser."""
    reject_control(value, what)
    if not isinstance(value, str) or len(value) > 255 or not _REDIRECT_TARGET.fullmatch(value):
        raise RenderError(f"{what} is not an http(s) URL: {value!r}")
    return _escape_line(value.replace("%", "%%"))


def redirect_code(value: Any, what: str) -> int:
    if value not in c.REDIRECT_HTTP_CODES or isinstance(value, bool):
        raise RenderError(f"{what} must be one of {c.REDIRECT_HTTP_CODES}: {value!r}")
    return value
