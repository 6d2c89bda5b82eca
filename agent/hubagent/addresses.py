"""Which hosts a data repo may name: public ones only. git runs as root on the hub, inside the VPC, next
to the instance metadata service; a repo at https://169.254.169.254/... or https://127.0.0.1:PORT/...
must never be fetched. Checked twice: on the URL's text (the API, workshop.yaml, hubagent's own check),
and on what the name resolves to, on the instance, right before git runs (``datasync``).

Stdlib only (hubagent runs on the instance with Ubuntu's python3).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that never mean a host on the internet, whatever a resolver answers: RFC 6761 (localhost),
# 6762 (.local), 8375 (home.arpa), and the cloud's own internal zones (EC2's instance-data.ec2.internal
# is the metadata service).
PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".intranet", ".lan")
PRIVATE_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})
# IPv6 prefixes that carry an IPv4 address inside (NAT64): judged by the address they carry.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def host_and_port(url: str) -> tuple[str, int]:
    """The host (lower case) and port of an https URL (443 when none is given)."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port or 443


def ipv4_any_form(host: str) -> ipaddress.IPv4Address | None:
    """``host`` read as an IPv4 address the way inet_aton (and so curl, under git) reads one: 1 to 4
    numbers, each decimal, hex (0x..) or octal (0..), e.g. 2130706433, 0x7f000001, 0177.0.0.1, 127.1.
    None when it is not one."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        text = part.lower()
        try:
            if text.startswith("0x"):
                number = int(text[2:], 16) if len(text) > 2 else 0
            elif len(text) > 1 and text.startswith("0"):
                number = int(text[1:], 8)
            else:
                number = int(text, 10)
        except ValueError:
            return None
        numbers.append(number)
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = 0
    for n in leading:
        value = value * 256 + n
    value = value * 256 ** (5 - len(numbers)) + last
    return ipaddress.IPv4Address(value)


def is_public(address: Address) -> bool:
    """Reachable on the internet: not loopback, link-local (169.254.0.0/16, fe80::/10), private
    (10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10), multicast, reserved or unspecified;
    an IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4, Teredo) is judged by that one."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is None and address.teredo is not None:
            inner = address.teredo[1]
        if inner is not None and not is_public(inner):
            return False
    return bool(address.is_global) and not address.is_multicast


def public_host_problem(host: str) -> str | None:
    """Why the URL's ``host`` is not a public host (a rule's sentence), or None when it may be one."""
    name = host.lower().rstrip(".")
    if name in PRIVATE_NAMES or name.endswith(PRIVATE_SUFFIXES):
        return f"names {name!r}, a local or internal host: data repos must be on a public host"
    literal = ipv4_any_form(name)
    if literal is not None:
        if not is_public(literal):
            return f"names {literal}, which is not a public address: data repos must be on a public host"
        if name != str(literal):
            return f"writes the address {literal} as {name!r}: write it as {literal}"
        return None
    if "." not in name:
        return f"names {name!r}, a name without a domain (resolved inside the network): use the full name"
    return None
