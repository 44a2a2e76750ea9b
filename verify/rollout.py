"""Rolling restart of a Deployment through kubectl, run while the check is sending requests."""

from __future__ import annotations

import re
import subprocess
import threading
import time

from verify.check import Rollout

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class KubectlRollout(Rollout):
    """``kubectl rollout restart deployment/<name> -n <ns>``, then ``kubectl rollout status``.

    ``kubectl`` is the executable to call (a path or a name on PATH); ``context`` is passed as
    ``--context``. Nothing goes through a shell.
    """

    def __init__(self, deployment: str, namespace: str = "default", *, kubectl: str = "kubectl",
                 context: str | None = None, status_timeout: float = 600.0) -> None:
        for what, value in (("deployment", deployment), ("namespace", namespace)):
            if not _NAME.match(value or ""):
                raise ValueError(f"{what} must be a Kubernetes object name, got {value!r}")
        self.deployment = deployment
        self.namespace = namespace
        self.kubectl = kubectl
        self.context = context
        self.status_timeout = status_timeout
        self._thread: threading.Thread | None = None
        self._outcome: dict | None = None
        self._finished = threading.Event()

    def _base(self) -> list[str]:
        cmd = [self.kubectl]
        if self.context:
            cmd += ["--context", self.context]
        return cmd

    def restart_command(self) -> list[str]:
        return self._base() + ["rollout", "restart", f"deployment/{self.deployment}", "-n", self.namespace]

    def status_command(self) -> list[str]:
        return self._base() + ["rollout", "status", f"deployment/{self.deployment}", "-n", self.namespace,
                               f"--timeout={int(self.status_timeout)}s"]

    def _run(self, cmd: list[str], timeout: float) -> tuple[int, str]:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            return 127, f"{cmd[0]}: not found"
        except subprocess.TimeoutExpired:
            return 124, f"{' '.join(cmd)}: no answer after {timeout:.0f} s"
        return done.returncode, (done.stdout + done.stderr).strip()

    def start(self) -> None:
        t0 = time.monotonic()
        code, out = self._run(self.restart_command(), 60)
        if code != 0:
            self._outcome = {"ok": False, "detail": f"`{' '.join(self.restart_command())}` failed "
                                                    f"({code}): {out[-300:]}"}
            self._finished.set()
            return

        def watch() -> None:
            scode, sout = self._run(self.status_command(), self.status_timeout + 30)
            ok = scode == 0
            last = sout.splitlines()[-1] if sout else ""
            self._outcome = {
                "ok": ok,
                "detail": (f"deployment/{self.deployment} -n {self.namespace} restarted and rolled out "
                           f"in {time.monotonic() - t0:.1f} s" if ok else
                           f"`{' '.join(self.status_command())}` failed ({scode}): {sout[-300:]}"),
                "status": last,
            }
            self._finished.set()

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()

    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float) -> dict:
        if not self._finished.wait(timeout):
            return {"ok": False, "detail": f"rollout not finished after {timeout:.0f} s"}
        assert self._outcome is not None
        return dict(self._outcome)
