"""HAProxy configuration rendering: pure functions from an LB object graph to file text.

No I/O besides loading the package's jinja2 template, no database session, no network.
"""

from octolb.amphora.render.errors import RenderError, UnsupportedFeature
from octolb.amphora.render.haproxy import (
    DEFAULT_USER_LOG_FORMAT,
    config_hash,
    render_haproxy_config,
)
from octolb.amphora.render.limits import max_conn_for_fds

__all__ = [
    "DEFAULT_USER_LOG_FORMAT",
    "RenderError",
    "UnsupportedFeature",
    "config_hash",
    "max_conn_for_fds",
    "render_haproxy_config",
]
