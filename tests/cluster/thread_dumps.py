"""Threads parked in a WildFly session write, from a thread dump of a live pod.

The image ships a JRE without jcmd/jstack: SIGQUIT to the JVM (``kubectl exec``) makes it print
a full thread dump to its stdout, which the container log keeps. A request thread parked in
``CacheEntryMutator.run`` (wildfly-clustering joins Infinispan's future there without a timeout)
with no request in flight is the WildFly 39 hung session write (README, "three limits").
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from kube import Cluster

SESSION_WRITE = "CacheEntryMutator.run"


def thread_dump(cluster: Cluster, namespace: str, pod: str, timeout: float = 30) -> str:
    """A full thread dump of ``pod``'s JVM, taken now (SIGQUIT, read back from its log)."""
    since = (datetime.now(timezone.utc) - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.exec(namespace, pod, "/bin/bash", "-c", "kill -QUIT $(pgrep -o -x java)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = cluster.kubectl("logs", "-n", namespace, pod, f"--since-time={since}").stdout
        start = text.rfind("Full thread dump")
        end = text.find("JNI global refs", start)
        if start >= 0 and end >= 0:
            return text[start:end]
        time.sleep(1)
    raise TimeoutError(f"{pod}: no complete thread dump in its log after {timeout}s")


def session_write_stacks(dump: str) -> list[str]:
    """The stacks (name line included) of the threads in a session write."""
    return ['"' + block for block in dump.split('\n"')[1:] if SESSION_WRITE in block]


def parked_session_writes(cluster: Cluster, namespace: str, pod: str, timeout: float = 30) -> list[str]:
    """Names of the threads in ``pod``'s JVM whose stack is in a session write, from a thread
    dump taken now. Meaningful with no request in flight."""
    return [stack[1:].split('"', 1)[0] for stack in session_write_stacks(thread_dump(cluster, namespace, pod, timeout))]


def parked_or_why(cluster: Cluster, namespace: str, pod: str) -> int | str:
    """The count of parked session writes in ``pod``, or why there is none (for a report that
    must not be lost to one pod's failed dump)."""
    try:
        return len(parked_session_writes(cluster, namespace, pod))
    except Exception as exc:  # noqa: BLE001 - reported in the result instead
        return f"no dump: {exc}"[:200]
