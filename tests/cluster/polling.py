"""A step repeated in a background thread while a block runs: what the cluster tests' watchers
have in common (the pods' logs kept as pods appear, the router following WildFly's endpoints, the
bench's lock-holder watch)."""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator


@contextlib.contextmanager
def every(interval_s: float, step: Callable[[], None], *, errors: list[str] | None = None,
          join_s: float = 30.0) -> Iterator[None]:
    """Calls ``step`` at once, then every ``interval_s`` seconds, in a daemon thread, until the
    block ends; then waits up to ``join_s`` for a step still running. A step that raises is tried
    again at the next interval (an API hiccup, a pod between states): with ``errors``, its message
    is appended there, otherwise it is dropped."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - a watcher never ends the run it watches
                if errors is not None:
                    errors.append(str(exc)[:200])
            stop.wait(interval_s)

    thread = threading.Thread(target=loop, daemon=True, name=f"every {getattr(step, '__qualname__', step)}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=join_s)
