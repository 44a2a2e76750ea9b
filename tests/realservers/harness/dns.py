"""A minimal DNS stand-in for a headless Service (what DNS_PING queries).

UDP on ``<bridge ip>:53``: A queries for a registered name answer every IP registered under
it (a headless Service with publishNotReadyAddresses: true lists all pods); other types for a
known name answer NOERROR with no records; unknown names NXDOMAIN. Pods find it the way they
find cluster DNS: ``/etc/resolv.conf``, which ``ip netns exec`` takes from
/etc/netns/<namespace>/resolv.conf (:meth:`write_resolv_conf`).
"""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

NETNS_ETC = Path("/etc/netns")


class DnsStandIn:
    def __init__(self, host: str, port: int = 53) -> None:
        self.host, self.port = host, port
        self._records: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str, int]] = []
        """(client ip, name, qtype) of every query answered."""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.5)
        self._stop = threading.Event()
        self._written: list[Path] = []
        self._thread = threading.Thread(target=self._serve, name="dns", daemon=True)
        self._thread.start()

    @staticmethod
    def _norm(name: str) -> str:
        return name.rstrip(".").lower()

    def add(self, name: str, ip: str) -> None:
        with self._lock:
            ips = self._records.setdefault(self._norm(name), [])
            if ip not in ips:
                ips.append(ip)

    def remove_ip(self, ip: str) -> None:
        with self._lock:
            for ips in self._records.values():
                if ip in ips:
                    ips.remove(ip)

    def write_resolv_conf(self, netns: str) -> None:
        directory = NETNS_ETC / netns
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "resolv.conf"
        # Kubernetes' own resolver timeouts (5 s, 2 attempts), and single-request-reopen: glibc
        # sends the A and AAAA queries from one socket at once, a pair that the kernel's
        # connection tracking can race on and drop (the known "5 s DNS delay" in clusters); a
        # pod's first lookup failing that way is cached by the JVM for 10 s.
        path.write_text(f"nameserver {self.host}\noptions ndots:1 timeout:5 attempts:2 single-request-reopen\n")
        path.chmod(0o644)
        self._written.append(directory)

    def _answer(self, query: bytes, client: str) -> bytes | None:
        if len(query) < 12:
            return None
        ident, _flags, qdcount = struct.unpack("!HHH", query[:6])
        if qdcount != 1:
            return None
        labels, offset = [], 12
        while offset < len(query) and query[offset] != 0:
            length = query[offset]
            labels.append(query[offset + 1:offset + 1 + length].decode("ascii", "replace"))
            offset += 1 + length
        offset += 1
        if offset + 4 > len(query):
            return None
        qtype, _qclass = struct.unpack("!HH", query[offset:offset + 4])
        question = query[12:offset + 4]
        name = self._norm(".".join(labels))
        with self._lock:
            known = name in self._records
            ips = list(self._records.get(name, []))
            self.queries.append((client, name, qtype))
        answers = []
        if known and qtype in (1, 255):
            for ip in ips:
                answers.append(struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(ip))
        rcode = 0 if known else 3
        header = struct.pack("!HHHHHH", ident, 0x8180 | 0x0400 | rcode, 1, len(answers), 0, 0)
        return header + question + b"".join(answers)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self._answer(data, addr[0])
            if reply is not None:
                try:
                    self._sock.sendto(reply, addr)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
        for directory in self._written:
            for f in directory.glob("*"):
                f.unlink(missing_ok=True)
            try:
                directory.rmdir()
            except OSError:
                pass
