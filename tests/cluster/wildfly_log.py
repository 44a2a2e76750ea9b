"""What a WildFly pod's log says about its cluster membership.

WildFly 39 logs the JGroups view at INFO only when the channel connects (WFLYCLJG0033, "with
view: [coord|n] (size) [members]"); later changes show in Infinispan's topology lines for the
web-session cache (ISPN100002/ISPN100010 "... with members [...]"). The latest line of either kind
is the pod's current membership.
"""

from __future__ import annotations

import re

VIEW_RE = re.compile(r"with view: \[[^\]|\s]+\|\d+\] \(\d+\) \[(?P<members>[^\]]*)\]")
TOPOLOGY_RE = re.compile(r"\[Context=[^\]]*\.war\] ISPN1000(?:02|10): [^\[]* with members \[(?P<members>[^\]]*)\]")
KUBE_PING_FAILURE = re.compile(r"failed getting JSON response from Kubernetes .*?encountered \[(?P<error>.*)\]\s*$", re.MULTILINE)
"""jgroups-kubernetes' message when its pod list request fails (the error says why, e.g. HTTP 403)."""
NODE_RE = re.compile(r"sessionstack: configuring \S+ with \S+ \(node (?P<node>[^)]+)\)")


def last_view(log: str) -> list[str] | None:
    """Members of the latest view or topology the log shows; None before the first."""
    latest: tuple[int, str] | None = None
    for regex in (VIEW_RE, TOPOLOGY_RE):
        for match in regex.finditer(log):
            if latest is None or match.start() > latest[0]:
                latest = (match.start(), match.group("members"))
    if latest is None:
        return None
    # Members print as "name(v=16.0.5)" in some lines and "name" in others.
    return sorted(re.sub(r"\(.*\)$", "", m.strip()) for m in latest[1].split(",") if m.strip())


def kube_ping_failures(log: str) -> list[str]:
    """The errors of every failed KUBE_PING pod-list request the log shows."""
    return [m.group("error") for m in KUBE_PING_FAILURE.finditer(log)]


def node_name(log: str) -> str | None:
    """The jboss.node.name start.sh gave the pod (its member name in every view)."""
    match = NODE_RE.search(log)
    return match.group("node") if match else None
