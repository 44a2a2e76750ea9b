"""polling.every, the background step of the cluster tests' watchers. Needs no node."""

from __future__ import annotations

import threading
import time

from polling import every


def test_the_step_runs_at_once_and_again_until_the_block_ends_and_a_failure_does_not_stop_it():
    calls, errors = [], []

    def step() -> None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise RuntimeError("the API hiccupped")

    with every(0.05, step, errors=errors):
        time.sleep(0.4)
    after = len(calls)
    time.sleep(0.2)
    assert after >= 4 and len(calls) == after  # went on past the failure, stopped with the block
    assert errors == ["the API hiccupped"]
    assert not [t for t in threading.enumerate() if t.name.startswith("every ") and t.name.endswith(".step")]  # joined
