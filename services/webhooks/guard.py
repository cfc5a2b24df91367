"""Server-side request forgery: a webhook URL is user input, so where it leads is checked
after DNS resolution, at registration and again before every attempt (DNS can change).

Refused, unless the operator allow-listed the network (`REELFLOW_WEBHOOKS_ALLOWED_NETWORKS`):
loopback, link-local, private (RFC 1918, unique-local IPv6), shared (CGNAT), unspecified,
multicast and reserved addresses; any scheme but http and https. The check is pure; the
resolving shell is `vet`, which returns the address to connect to, so the request goes to
the address that was checked rather than to a second lookup's answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = ("http", "https")


class UrlRefused(Exception):
    """A coded refusal: `invalid_url`, `url_scheme_refused`, `url_unresolvable` or
    `url_address_refused`."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    #: The checked address the request connects to.
    address: str

    def url_for(self, url: str) -> str:
        """`url` with its host replaced by the checked address (brackets for IPv6)."""
        parts = urlsplit(url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        netloc = f"{host}:{self.port}"
        return parts._replace(netloc=netloc).geturl()


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def parse(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of `url`, or a refusal for what is not an http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("invalid_url", f"not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UrlRefused("url_scheme_refused",
                         f"only http and https URLs are allowed, not {scheme or 'none'!r}")
    if not parts.hostname:
        raise UrlRefused("invalid_url", "the URL has no host")
    if parts.username or parts.password:
        raise UrlRefused("invalid_url", "the URL may not carry credentials")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def address_refusal(address: Address, allowed: Iterable[Network] = ()) -> str | None:
    """Why `address` may not be called (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address.version == n.version and address in n for n in allowed):
        return None
    for kind, hit in (("loopback", address.is_loopback), ("link-local", address.is_link_local),
                      ("unspecified", address.is_unspecified),
                      ("multicast", address.is_multicast),
                      ("private", address.is_private), ("reserved", address.is_reserved),
                      ("shared", address in ipaddress.ip_network("100.64.0.0/10"))):
        if hit:
            return kind
    return None


def pick(host: str, addresses: Iterable[str], allowed: Iterable[Network] = ()) -> str:
    """The first address of `host` to connect to, if every one of them is allowed (a name
    with one private answer among public ones is refused: the client could pick that one)."""
    found = list(dict.fromkeys(addresses))
    if not found:
        raise UrlRefused("url_unresolvable", f"{host} does not resolve")
    nets = tuple(allowed)
    for text in found:
        kind = address_refusal(ipaddress.ip_address(text), nets)
        if kind is not None:
            raise UrlRefused("url_address_refused",
                             f"{host} resolves to a {kind} address ({text}), which webhooks "
                             "may not call unless the operator allow-lists it")
    return found[0]


async def vet(url: str, allowed: Iterable[Network] = ()) -> Target:
    """Resolve and check `url`; the Target names the address to connect to."""
    scheme, host, port = parse(url)
    try:
        ipaddress.ip_address(host)
        answers = [host]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                                 type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise UrlRefused("url_unresolvable", f"{host} does not resolve") from None
        answers = [str(info[4][0]) for info in infos]
    return Target(scheme, host, port, pick(host, answers, allowed))
