"""Every pod's log (all its containers) kept to a file while a scenario runs, including pods that
go away.

A rolling restart deletes the pods whose logs would explain a failure (the open WildFly 39 hang
leaves `ISPN000299 ... Lock is held by ...` in the logs of the pods that answered HTTP 500, and a
parked session write in the pod that stops; a Redis handover leaves the Sentinels' `+switch-master`
and the hooks' lines): `kubectl logs -f` per pod, started as each pod appears, keeps them. A
StatefulSet's replacement pod has the same name: the files are named after name and uid.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from kube import Cluster
from polling import every

LOCK_HELD = re.compile(r"ISPN000299\b.*")
"""Infinispan's lock timeout: a request waited 15 s for a session lock another transaction held."""

SESSION_ERRORS = {
    "ISPN000299": "a lock timeout: a request waited 15 s for a session lock another transaction held",
    "ISPN000482": "a transaction's command refused: the transaction taken for a completed one",
    "ISPN000097": "a one-phase commit that failed (after the answer: the write is lost)",
}
"""The Infinispan codes a failed request or a lost write leaves in the pods' logs
(configure-infinispan.cli says how each one arises)."""


@dataclass
class KeptLogs:
    directory: Path
    files: dict[str, Path] = field(default_factory=dict)

    def lines(self, pattern: re.Pattern[str]) -> dict[str, list[str]]:
        """pod (name-uid) -> the log lines matching ``pattern``, for the pods that have any."""
        found = {name: [m.group(0) for m in pattern.finditer(path.read_text(errors="replace"))] for name, path in self.files.items()}
        return {name: hits for name, hits in found.items() if hits}

    def session_errors(self) -> str:
        """One line: where the logs are, and per code of SESSION_ERRORS the pods' counts of lines
        that carry it."""
        texts = {name: path.read_text(errors="replace").splitlines() for name, path in self.files.items()}
        counts = {code: {name: n for name, lines in texts.items() if (n := sum(code in line for line in lines))} for code in SESSION_ERRORS}
        return f"pods' logs kept in {self.directory} ({len(self.files)} pods): {counts}"


@contextlib.contextmanager
def kept_logs(cluster: Cluster, namespace: str, selector: str, directory: Path, poll_s: float = 1.0) -> Iterator[KeptLogs]:
    directory.mkdir(parents=True, exist_ok=True)
    kept = KeptLogs(directory)
    followers: list[subprocess.Popen] = []

    def follow_new_pods() -> None:
        for pod in cluster.pods(namespace, selector):
            if not any(s.get("state", {}).get("running") for s in pod.get("status", {}).get("containerStatuses", [])):
                continue
            key = f"{pod['metadata']['name']}-{pod['metadata']['uid'][:8]}"
            if key not in kept.files:
                kept.files[key] = directory / f"{key}.log"
                with open(kept.files[key], "wb") as out:
                    followers.append(subprocess.Popen(
                        [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", "logs", "-f", "--all-containers",
                         "--prefix", "--timestamps", "-n", namespace, pod["metadata"]["name"]],
                        stdout=out, stderr=subprocess.STDOUT))

    try:
        with every(poll_s, follow_new_pods):
            yield kept
    finally:
        for follower in followers:
            follower.terminate()
        for follower in followers:
            try:
                follower.wait(timeout=10)
            except subprocess.TimeoutExpired:
                follower.kill()
                follower.wait()
