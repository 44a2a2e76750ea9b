"""Who can open a TCP connection to whom, as the node's NetworkPolicy agent (kube-router's firewall,
tools/cluster) lets them: from a pod of a given namespace and labels, or from the node itself."""

from __future__ import annotations

import itertools

from kube import TOOLBOX, Cluster, pod, restricted_container, run_to_completion

CONNECT_TIMEOUT_S = 3
"""A refused or dropped connection fails within this; an admitted one on a busy node answers in ms."""

AGENT_CATCH_UP_S = 20
"""How long a new pod may wait to be admitted: kube-router adds a pod's address to the policies'
ipsets on the pod's event (within 2 s here, SETTLE_S); until then the pod is refused."""

SETTLE_S = 5
"""A probe that expects to be refused waits this long before its one attempt, so that a refusal
is the policy's and not the agent's not knowing the new pod yet. Measured here: three new pods of
the router's namespace, retrying every 0.1 s, were admitted 0.2, 1.7 and 1.8 s after they started."""

_probes = itertools.count(1)

# One line per target: "<ip>:<port> open" or "<ip>:<port> closed"; connect, send nothing. The
# first word: seconds to wait before the first attempt; the second: how long to keep trying a
# closed target (0: one attempt).
_LOOP = """sleep "$1"; patience=$2; shift 2
for t in "$@"; do
  end=$(( $(date +%s) + patience ))
  while :; do
    if {connect}; then echo "$t open"; break; fi
    if [ "$(date +%s)" -ge "$end" ]; then echo "$t closed"; break; fi
    sleep 0.5
  done
done"""
_POD_SCRIPT = _LOOP.replace("{connect}", f'nc -z -w {CONNECT_TIMEOUT_S} "${{t%:*}}" "${{t##*:}}"')
_BASH_SCRIPT = _LOOP.replace("{connect}", f'timeout {CONNECT_TIMEOUT_S} bash -c ": > /dev/tcp/${{t%:*}}/${{t##*:}}" 2>/dev/null')


def _parse(log: str, targets: list[str]) -> dict[str, bool]:
    found = dict(line.rsplit(" ", 1) for line in log.splitlines() if line.endswith((" open", " closed")))
    missing = [t for t in targets if t not in found]
    assert not missing, f"the probe did not report {missing}:\n{log}"
    return {t: found[t] == "open" for t in targets}


def from_pod(cluster: Cluster, namespace: str, targets: list[str], labels: dict[str, str] | None = None,
             expect_open: bool = False) -> dict[str, bool]:
    """target ("ip:port") -> whether a new pod in ``namespace`` with ``labels`` could connect.
    ``expect_open``: keep trying a refused target for AGENT_CATCH_UP_S (the agent may not know
    the new pod yet); otherwise one attempt after SETTLE_S."""
    timing = ["0", str(AGENT_CATCH_UP_S)] if expect_open else [str(SETTLE_S), "0"]
    manifest = pod(f"policy-probe-{next(_probes)}", namespace, [restricted_container("nc", TOOLBOX, ["sh", "-c", _POD_SCRIPT, "sh", *timing, *targets])])
    manifest["metadata"]["labels"].update(labels or {})
    phase, log = run_to_completion(cluster, manifest)
    assert phase == "Succeeded", log
    return _parse(log, targets)


def from_node(cluster: Cluster, targets: list[str]) -> dict[str, bool]:
    """target -> whether the node itself could connect (kube-router admits the node's own
    addresses to its pods, as kubelet probes need): shows the port listens."""
    done = cluster.in_node("bash", "-c", _BASH_SCRIPT, "bash", "0", "0", *targets, check=False)
    return _parse(done.stdout, targets)


def from_container(cluster: Cluster, namespace: str, pod_name: str, targets: list[str]) -> dict[str, bool]:
    """target -> whether a running pod (its first container, which must have bash) could connect."""
    out = cluster.exec(namespace, pod_name, "bash", "-c", _BASH_SCRIPT, "bash", "0", "0", *targets)
    return _parse(out.decode(), targets)
