"""Where a session request on a pod that did not serve the session last spends its time: the
JGroups messages between the pods while that one HTTP request runs.

A raw socket (AF_PACKET) in the node's network namespace sees every pod's veth: a packet between
two pods leaves the bridge through the receiving pod's veth exactly once (``PACKET_OUTGOING``),
stamped by the kernel (``SO_TIMESTAMPNS``, wall clock). Only TCP segments with a payload to or
from the JGroups port count (acknowledgements carry no message). Per request: how many messages
the serving pod sent and received, how many times it sent and then waited for an answer (round
trips), and how the request's time splits into before the first message, the messages' span and
after the last. Background traffic (failure detection, stability) falls into a window now and then;
it is a few messages per several seconds, so medians over many requests are not moved by it.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35  # Linux; not exported by every Python's socket module


@dataclass(frozen=True)
class Message:
    at: float
    """Wall-clock seconds (the kernel's stamp)."""
    src: str
    dst: str
    size: int


def parse(frame: bytes, port: int) -> tuple[str, str, int] | None:
    """(source IP, destination IP, TCP payload bytes) of an Ethernet/IPv4/TCP frame to or from
    ``port`` that carries a payload; None for anything else."""
    if len(frame) < 34 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP or frame[23] != socket.IPPROTO_TCP:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    tcp = 14 + ihl
    if len(frame) < tcp + 13:
        return None
    sport, dport = struct.unpack_from("!HH", frame, tcp)
    payload = total - ihl - (frame[tcp + 12] >> 4) * 4
    if port not in (sport, dport) or payload <= 0:
        return None
    return socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34]), payload


class Capture:
    """``with Capture(port) as cap:`` collects ``cap.messages`` until the block ends."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[Message] = []
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Capture":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.05)  # the last segments of the last request
        self._stop.set()
        self._thread.join()
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, ancillary, _, address = self._sock.recvmsg(65535, 64)
            except socket.timeout:
                continue
            if address[2] != PACKET_OUTGOING:
                continue
            found = parse(frame, self.port)
            if found is None:
                continue
            stamp = next((struct.unpack("qq", data[:16]) for level, kind, data in ancillary
                          if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS), None)
            at = stamp[0] + stamp[1] / 1e9 if stamp else time.time()
            self.messages.append(Message(at, *found))


def breakdown(messages: list[Message], server: str, start: float, end: float) -> dict:
    """What the request served by ``server`` (a pod IP) between ``start`` and ``end`` (wall clock)
    exchanged over JGroups."""
    inside = sorted((m for m in messages if start <= m.at <= end and server in (m.src, m.dst)), key=lambda m: m.at)
    sent = [m for m in inside if m.src == server]
    round_trips, waiting, waits_ms, since = 0, False, 0.0, 0.0
    for m in inside:
        if m.src == server and not waiting:
            waiting, since = True, m.at
        elif m.dst == server and waiting:
            round_trips, waiting, waits_ms = round_trips + 1, False, waits_ms + (m.at - since) * 1000
    total_ms = (end - start) * 1000
    if not inside:
        return {"total_ms": total_ms, "messages": 0, "sent": 0, "round_trips": 0, "waiting_ms": 0.0,
                "before_first_ms": total_ms, "span_ms": 0.0, "after_last_ms": 0.0, "peers": 0}
    return {"total_ms": total_ms, "messages": len(inside), "sent": len(sent), "round_trips": round_trips,
            "waiting_ms": waits_ms, "before_first_ms": (inside[0].at - start) * 1000,
            "span_ms": (inside[-1].at - inside[0].at) * 1000, "after_last_ms": (end - inside[-1].at) * 1000,
            "peers": len({m.dst if m.src == server else m.src for m in inside})}
