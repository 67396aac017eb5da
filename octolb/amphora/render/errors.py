"""The two ways rendering refuses: a value that must not reach a file, a feature not built yet."""


class RenderError(ValueError):
    """A value in the load balancer graph cannot be rendered safely.

    Raised instead of writing it: a control character in a string, an ID that is not
    UUID-shaped, an address that is not an IP literal, a number out of range. The API is
    the first line of defence (DESIGN principle 7); this is the second, so reaching it
    means a validation gap upstream.
    """


class UnsupportedFeature(RenderError):
    """The graph asks for something this renderer does not implement (yet).

    Examples: TERMINATED_HTTPS, UDP, SCTP and PROMETHEUS listeners, L7 policies, PING
    health monitors, SOURCE_IP_PORT. Raised rather than rendering something that would
    silently behave differently from what the tenant asked for.
    """
