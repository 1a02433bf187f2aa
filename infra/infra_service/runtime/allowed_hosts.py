"""Spin's `allowed_outbound_hosts` rules: `<scheme>://<host>[:<port>]` with `*` wildcards.

Follows spin `crates/outbound-networking-config/src/allowed_hosts.rs`: a scheme or `*`; a host,
`*`, `*.domain` or a CIDR block; a port, `*`, a range `a..b` (end excluded) or none for the
scheme's well-known port. Templated entries (`{{ var }}`) and service chaining are not supported.
"""

import ipaddress
from dataclasses import dataclass

WELL_KNOWN_PORTS = {"http": 80, "https": 443, "redis": 6379, "mysql": 3306, "postgres": 5432}


class AllowedHostError(ValueError):
    pass


@dataclass(frozen=True)
class AllowedHost:
    original: str
    scheme: str | None  # None: any
    host: str  # "*", ".suffix" for *.domain, a literal, or "cidr:<net>"
    ports: tuple[int, int] | None  # [start, end) or None: any

    def allows(self, scheme: str, host: str, port: int | None) -> bool:
        if self.scheme is not None and self.scheme != scheme:
            return False
        if not _host_allows(self.host, host.lower()):
            return False
        if self.ports is None:
            return True
        actual = port if port is not None else WELL_KNOWN_PORTS.get(scheme)
        return actual is not None and self.ports[0] <= actual < self.ports[1]


def _host_allows(pattern: str, host: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("cidr:"):
        try:
            return ipaddress.ip_address(host.strip("[]")) in ipaddress.ip_network(pattern[5:])
        except ValueError:
            return False
    if pattern.startswith("."):
        return host.endswith(pattern)
    return host == pattern


def parse_allowed_host(entry: str) -> AllowedHost:
    text = entry.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise AllowedHostError(f"{entry!r} does not contain a scheme (e.g. 'http://' or '*://')")
    if scheme != "*" and not scheme.isalpha():
        raise AllowedHostError(f"{entry!r}: invalid scheme {scheme!r}")
    rest = rest.rstrip("/")
    if "/" in rest and not _is_cidr(rest):
        raise AllowedHostError(f"{entry!r} has a path but is not allowed to")
    host, port_text = rest, ""
    if not _is_cidr(rest) and ":" in rest and not rest.endswith("]"):
        host, _, port_text = rest.rpartition(":")
    ports = _ports(port_text, scheme, entry)
    return AllowedHost(
        original=entry,
        scheme=None if scheme == "*" else scheme,
        host=_host(host, entry),
        ports=ports,
    )


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        return False
    return "/" in text


def _host(host: str, entry: str) -> str:
    host = host.strip().lower()
    if host == "*":
        return "*"
    if _is_cidr(host):
        return "cidr:" + str(ipaddress.ip_network(host.strip("[]"), strict=False))
    if host.startswith("*."):
        if "*" in host[2:]:
            raise AllowedHostError(f"{entry!r}: wildcards are allowed only as prefixes")
        return host[1:]
    if "*" in host or not host:
        raise AllowedHostError(f"{entry!r}: wildcards are allowed only as subdomains")
    return host.strip("[]")


def _ports(text: str, scheme: str, entry: str) -> tuple[int, int] | None:
    if text == "*":
        return None
    try:
        if not text:
            port = WELL_KNOWN_PORTS[scheme]
            return port, port + 1
        if ".." in text:
            start, _, end = text.partition("..")
            return int(start), int(end)
        return int(text), int(text) + 1
    except (KeyError, ValueError):
        raise AllowedHostError(f"{entry!r}: invalid or missing port") from None


def parse_allowed_hosts(entries: list[str]) -> list[AllowedHost]:
    return [parse_allowed_host(entry) for entry in entries]


def is_allowed(rules: list[AllowedHost], *, scheme: str, host: str, port: int | None) -> bool:
    return any(rule.allows(scheme, host, port) for rule in rules)
