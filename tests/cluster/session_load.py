"""Sessions kept busy while something happens to the pods, and the judgement afterwards: shared by
the WildFly scenarios (test_cluster_stack_sessions.py) and the Redis ones (test_redis_stack.py)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

from verify.check import SessionCheck


def load_while(check: SessionCheck, action: Callable[[], Any], pause: float = 0.3) -> Any:
    """Every user keeps sending a request each ``pause`` s while ``action`` runs (in a thread),
    then one more; ``action``'s result, or its exception raised here."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = action()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = exc

    busy = threading.Thread(target=run)
    busy.start()
    while busy.is_alive():
        check.rounds(1)
        time.sleep(pause)
    check.rounds(1)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def assert_no_session_lost(report, allow_failed: int = 0, allow_lost_last_write: bool = False) -> dict:
    """No session lost; no counter regression, except (``allow_lost_last_write``) the one a kill -9
    causes: WildFly 39 answers before the write reaches the second owner, so a pod killed right
    after answering loses that last write, and the next answer repeats the counter (README)."""
    summary = report.to_dict()
    facts = {k: summary[k] for k in ("total_requests", "failed_requests")}
    facts["lost"] = len(summary["lost_sessions"])
    events = [e for r in summary["regressed_sessions"] for e in r["events"]]
    repeated = [e for e in events if re.search(r"counter went from (\d+) to \1$", e)]
    facts["regressed"] = len(events)
    facts["last_write_lost"] = len(repeated)
    print(f"sessions: {report.sessions}, {facts}, pods seen {report.pods}")
    assert facts["lost"] == 0, summary
    assert not events or (allow_lost_last_write and events == repeated), summary
    assert facts["failed_requests"] <= allow_failed, summary
    return facts


def failure_window(check: SessionCheck) -> tuple[int, float]:
    """(failed requests, seconds from the start of the first failed request to the end of the last
    one): how long users saw errors. (0, 0.0) when none failed."""
    failed = [o for r in check.results for o in r.observations if not o.ok]
    if not failed:
        return 0, 0.0
    return len(failed), max(o.started + o.elapsed_ms / 1000 for o in failed) - min(o.started for o in failed)
