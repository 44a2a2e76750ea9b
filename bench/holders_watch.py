"""Catching a session-lock holder while it still runs (bench/session_hangs.py).

Each time a pod's log names a new transaction as holding a session lock (``ISPN000299 ... Lock is
held by GlobalTransaction{id=<tx>, addr=<node>}``), :class:`HoldersWatch` dumps the threads of
every live WildFly pod: the pod that started the transaction (its stacks in a session write first)
and the others (a commit or a remote call of the holder may wait on one of them). While newer lock
timeouts keep naming the same transaction, it dumps the holder's pod again every ``redump_s``: a
thread that stays in the same place across those dumps is what keeps the lock; no such thread
means a transaction nobody is completing.

With ``evict_after_s``, the holder's pod is deleted once the logs have named the transaction for
that long: the README's runbook, measured. :func:`holder_timelines` then says, per holder, when
the logs named it first and last, and how long after its pod's deletion they still named it.

Beside them, what the logs say of transactions that never finished: :func:`unfinished_at_stop`
(what the pods' cache stops found) and :func:`logged_errors` (commands refused, commits failed).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from kube import Cluster
from pod_logs import SESSION_ERRORS
from polling import every
from session_traffic import kubelet_epoch
from thread_dumps import session_write_stacks, thread_dump
from sessionstack import wildfly_config as wc

_NAMED = re.compile(r"^(?:\[[^\]]*\] )?(\S+Z) .*?Lock is held by GlobalTransaction\{id=(\d+), addr=([^,]+)", re.MULTILINE)
_STOPPED_WITH = re.compile(r"ISPN000100: Stopping, but there are (\d+) local transactions and (\d+) remote transactions")


def namings(texts) -> dict[tuple[str, str], list[float]]:
    """(transaction id, node) -> the epoch times of the log lines that name it as a lock holder."""
    found: dict[tuple[str, str], list[float]] = {}
    for text in texts:
        for m in _NAMED.finditer(text):
            found.setdefault((m.group(2), m.group(3)), []).append(kubelet_epoch(m.group(1)))
    return {key: sorted(times) for key, times in found.items()}


def lock_holders(texts) -> set[tuple[str, str]]:
    """(transaction id, node) of every transaction the logs name as holding a session lock."""
    return set(namings(texts))


def unfinished_at_stop(texts) -> dict[str, int]:
    """What the pods' cache stops found unfinished (``ISPN000100``, logged after the stop-timeout):
    ``stops`` that logged it, ``local`` transactions (started on the stopping pod: its requests
    had drained by then, so these are transactions nobody closes, each keeping its session's lock
    until the pod goes) and ``remote`` ones (other pods' transactions in flight with a copy on it;
    the load goes on while a pod stops). Pods still running have not logged it."""
    found = [m.groups() for text in texts for m in _STOPPED_WITH.finditer(text)]
    return {"stops": len(found), "local": sum(int(local) for local, _ in found), "remote": sum(int(remote) for _, remote in found)}


INFINISPAN_ERRORS = {code: SESSION_ERRORS[code] for code in ("ISPN000482", "ISPN000097")}
"""The codes counted beside the lock timeouts (which the bench matches to failed requests)."""


def logged_errors(texts) -> dict[str, int]:
    """How many lines of the pods' logs carry each code of INFINISPAN_ERRORS (a stack trace
    repeats the code in its "Caused by" lines, so these are lines, not events)."""
    lines = [line for text in texts for line in text.splitlines()]
    return {code: sum(code in line for line in lines) for code in INFINISPAN_ERRORS}


@dataclass
class Holder:
    transaction: str
    node: str
    pod: str | None = None
    dumps: list[str] = field(default_factory=list)
    """the files of the dumps taken while the logs named it, in order"""
    last_dump: float = 0.0
    last_named_dumped: float = 0.0
    evicted_at: float | None = None


class HoldersWatch:
    """While the load runs (a context manager): the dumps (and with ``evict_after_s``, the pod
    deletions) described in the module's docstring, of the pods ``selector`` picks in
    ``namespace``, into ``directory``. At most ``limit`` dumps
    of holder pods per run, ``per_holder`` of each."""

    def __init__(self, cluster: Cluster, namespace: str, selector: str, kept, directory: Path, *, limit: int = 12,
                 per_holder: int = 4, redump_s: float = 30.0, evict_after_s: float | None = None):
        self.cluster, self.namespace, self.selector, self.kept, self.directory = cluster, namespace, selector, kept, directory
        self.limit, self.per_holder, self.redump_s, self.evict_after_s = limit, per_holder, redump_s, evict_after_s
        self.holders: dict[tuple[str, str], Holder] = {}
        self.errors: list[str] = []
        self._dumped = 0
        self._polling = every(2.0, self._watch, errors=self.errors, join_s=180)  # a diagnostic: never the run's end

    def __enter__(self) -> "HoldersWatch":
        self._polling.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._polling.__exit__(*exc)

    def report(self) -> list[dict]:
        return [{"transaction": h.transaction, "node": h.node, "pod": h.pod, "dumps": h.dumps,
                 "evicted_at": h.evicted_at} for h in self.holders.values()] + [{"error": e} for e in self.errors[:5]]

    def _watch(self) -> None:
        named = namings(path.read_text(errors="replace") for path in list(self.kept.files.values()))
        for key, times in sorted(named.items()):
            self._look(self.holders.setdefault(key, Holder(*key)), times)

    def _look(self, holder: Holder, times: list[float]) -> None:
        now = time.time()
        if holder.pod is None:
            pods = [p["metadata"]["name"] for p in self.cluster.live_pods(self.namespace, self.selector)]
            holder.pod = next((p for p in pods if wc.node_name(p) == holder.node), "")
            if holder.pod:
                self._dump(holder, times[-1], others=[p for p in pods if p != holder.pod])
            return
        if not holder.pod or holder.evicted_at is not None:
            return
        if self.evict_after_s is not None and times[-1] - times[0] >= self.evict_after_s:
            self.cluster.kubectl("delete", "pod", "-n", self.namespace, holder.pod, "--wait=false")
            holder.evicted_at = now
        elif times[-1] > holder.last_named_dumped and now - holder.last_dump >= self.redump_s:
            self._dump(holder, times[-1], others=[])

    def _dump(self, holder: Holder, last_named: float, others: list[str]) -> None:
        if self._dumped >= self.limit or len(holder.dumps) >= self.per_holder:
            return
        self._dumped += 1
        holder.last_dump, holder.last_named_dumped = time.time(), last_named
        stamp = time.strftime("%H%M%S", time.gmtime())
        dump = thread_dump(self.cluster, self.namespace, holder.pod)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{holder.pod}-tx{holder.transaction}-{stamp}.txt"
        path.write_text("\n".join(session_write_stacks(dump)) + "\n\n===== full dump =====\n" + dump)
        holder.dumps.append(str(path))
        for pod in others:
            try:
                (self.directory / f"{pod}-beside-tx{holder.transaction}-{stamp}.txt").write_text(
                    thread_dump(self.cluster, self.namespace, pod))
            except Exception as exc:  # noqa: BLE001 - a pod that went meanwhile
                self.errors.append(f"{pod}: {exc}"[:200])


def holder_timelines(texts, watched: list[dict]) -> list[dict]:
    """Per lock holder: when the logs named it first and last (epoch s), for how long, and, if the
    watch deleted its pod, how long after the deletion a lock timeout still named it
    (``named_after_delete_s``: the pod terminates gracefully first, preStop, suspend and stop,
    and a lock wait that began before it left times out one wait later)."""
    evicted = {(w["transaction"], w["node"]): w.get("evicted_at") for w in watched if "transaction" in w}
    out = []
    for (tx, node), times in sorted(namings(texts).items(), key=lambda kv: kv[1][0]):
        at = evicted.get((tx, node))
        row = {"transaction": tx, "node": node, "named_from": round(times[0], 1), "named_until": round(times[-1], 1),
               "named_s": round(times[-1] - times[0], 1), "evicted_at": round(at, 1) if at else None}
        if at:
            row["named_after_delete_s"] = round(times[-1] - at, 1)
        out.append(row)
    return out
