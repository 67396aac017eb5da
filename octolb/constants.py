"""Status, protocol and type values shared by the API, the store and the controller.

The values are Octavia's (octavia-lib constants); clients compare them as strings.
"""

# provisioning_status
ACTIVE = "ACTIVE"
PENDING_CREATE = "PENDING_CREATE"
PENDING_UPDATE = "PENDING_UPDATE"
PENDING_DELETE = "PENDING_DELETE"
DELETED = "DELETED"
ERROR = "ERROR"
PENDING_STATUSES = (PENDING_CREATE, PENDING_UPDATE, PENDING_DELETE)

# amphora status (in addition to the above)
BOOTING = "BOOTING"
ALLOCATED = "ALLOCATED"
READY = "READY"
FAILOVER_STOPPED = "FAILOVER_STOPPED"

# operating_status
ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
DEGRADED = "DEGRADED"
DRAINING = "DRAINING"
NO_MONITOR = "NO_MONITOR"

# listener protocols
HTTP = "HTTP"
HTTPS = "HTTPS"
TCP = "TCP"
TERMINATED_HTTPS = "TERMINATED_HTTPS"
UDP = "UDP"
SCTP = "SCTP"
PROMETHEUS = "PROMETHEUS"
LISTENER_PROTOCOLS = (HTTP, HTTPS, TCP, TERMINATED_HTTPS, UDP, SCTP, PROMETHEUS)

# pool protocols
PROXY = "PROXY"
PROXYV2 = "PROXYV2"
POOL_PROTOCOLS = (HTTP, HTTPS, TCP, PROXY, PROXYV2, UDP, SCTP)

# listener protocol -> pool protocols it may use (Octavia's VALID_LISTENER_POOL_PROTOCOL_MAP)
LISTENER_POOL_PROTOCOLS = {
    HTTP: (HTTP, PROXY, PROXYV2),
    HTTPS: (HTTPS, PROXY, PROXYV2, TCP),
    TCP: (HTTP, HTTPS, PROXY, PROXYV2, TCP),
    TERMINATED_HTTPS: (HTTP, PROXY, PROXYV2),
    UDP: (UDP,),
    SCTP: (SCTP,),
    PROMETHEUS: (),
}

# listener protocol -> L4 family, for port uniqueness on one load balancer
L4_FAMILY = {
    HTTP: TCP, HTTPS: TCP, TCP: TCP, TERMINATED_HTTPS: TCP, PROXY: TCP, PROXYV2: TCP,
    PROMETHEUS: TCP, UDP: UDP, SCTP: SCTP,
}

# lb algorithms
ROUND_ROBIN = "ROUND_ROBIN"
LEAST_CONNECTIONS = "LEAST_CONNECTIONS"
SOURCE_IP = "SOURCE_IP"
SOURCE_IP_PORT = "SOURCE_IP_PORT"
LB_ALGORITHMS = (ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT)

# session persistence types
HTTP_COOKIE = "HTTP_COOKIE"
APP_COOKIE = "APP_COOKIE"
SESSION_PERSISTENCE_TYPES = (SOURCE_IP, HTTP_COOKIE, APP_COOKIE)

# health monitor types
HM_HTTP = "HTTP"
HM_HTTPS = "HTTPS"
HM_PING = "PING"
HM_TCP = "TCP"
HM_TLS_HELLO = "TLS-HELLO"
HM_UDP_CONNECT = "UDP-CONNECT"
HM_SCTP = "SCTP"
HM_TYPES = (HM_HTTP, HM_HTTPS, HM_PING, HM_TCP, HM_TLS_HELLO, HM_UDP_CONNECT, HM_SCTP)
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH")

# amphora roles and topologies
ROLE_STANDALONE = "STANDALONE"
ROLE_MASTER = "MASTER"
ROLE_BACKUP = "BACKUP"
TOPOLOGY_SINGLE = "SINGLE"
TOPOLOGY_ACTIVE_STANDBY = "ACTIVE_STANDBY"

# insert_headers keys
INSERT_HEADERS_HTTP = (
    "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto",
    "X-Forwarded-IP", "X-Client-IP", "X-Real-IP",
)
INSERT_HEADERS_SSL = (
    "X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN",
    "X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After",
)

PROVIDER_AMPHORA = "amphora"
PROVIDERS = {"amphora": "The octolb amphora driver (HAProxy).",
             "octavia": "Deprecated alias of the amphora driver."}

MAX_TIMEOUT_MS = 86_400_000
