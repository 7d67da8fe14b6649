"""Stand-ins for DNS and a guard on the network, for tests that send to webhook targets.

`StubResolver` replaces `outbound.http.resolve`; `guard_network` makes any other name
lookup, and any connection to an address that is not loopback, fail the test before a
packet leaves: a send test never reaches anything but this machine."""

import ipaddress
import socket


class StubResolver:
    def __init__(self, answers: dict[str, list[str] | list[list[str]]]):
        # name -> addresses, or name -> one list of addresses per successive lookup
        # (the last one repeats): a name whose answer changes, as in a DNS rebinding.
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = self.answers[host]
        if answer and isinstance(answer[0], list):
            looked_up = sum(1 for h, _ in self.calls if h == host)
            return list(answer[min(looked_up, len(answer)) - 1])
        return list(answer)


def _is_address(host) -> bool:
    try:
        ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host)
    except (TypeError, ValueError):
        return False
    return True


def guard_network(monkeypatch) -> list:
    """Fail on a name lookup (anything but an address) and on a connection to an
    address that is not loopback; returns the list of connections tried."""
    connects: list = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_address(host):
            raise AssertionError(f"a name lookup outside the stub resolver: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        connects.append(address)
        if (
            isinstance(address, tuple)
            and not ipaddress.ip_address(address[0].split("%")[0]).is_loopback
        ):
            raise AssertionError(f"a connection to {address[0]}, not loopback")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return connects
