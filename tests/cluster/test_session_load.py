"""The rolling-restart judgement the cluster tests share (session_load), on summaries shaped like
verify's Report.to_dict(): it tolerates what issue 10 leaves (a few session-lock timeouts, a
repeated last counter) and nothing else. Needs no node."""

from __future__ import annotations

import pytest

from session_load import assert_only_lock_timeouts, counter_events


def summary(errors=(), events=(), lost=()) -> dict:
    return {"errors": [{"user": u, "error": e} for u, e in errors], "failed_requests": len(errors),
            "regressed_sessions": [{"user": 1, "events": list(events)}] if events else [], "lost_sessions": list(lost)}


LOCK_TIMEOUTS = [(3, "http 500"), (3, "timeout after 20 s"), (7, "http 500")]


def test_counter_events_tell_a_repeated_last_counter_from_a_regression():
    events, repeated = counter_events(summary(events=["counter went from 12 to 12", "counter went from 12 to 10"]))
    assert (len(events), repeated) == (2, ["counter went from 12 to 12"])


def test_lock_timeouts_the_pods_logged_and_a_repeated_counter_pass():
    assert assert_only_lock_timeouts(summary(LOCK_TIMEOUTS, ["counter went from 4 to 4"]), True) == {3: 2, 7: 1}


@pytest.mark.parametrize("bad, logged", [
    (summary(LOCK_TIMEOUTS), False),  # no ISPN000299 in any pod's log: not the race
    (summary(LOCK_TIMEOUTS + [(9, "http 404")]), True),  # any other failure
    (summary(events=["counter went from 4 to 2"]), True),  # a counter really went back
    (summary(lost=[5]), True),
    (summary([(3, "http 500")] * 4), True),  # one session blocked for more than three lock waits
    (summary([(u, "http 500") for u in range(4)]), True),  # more than three sessions hit
])
def test_anything_else_fails(bad, logged):
    with pytest.raises(AssertionError):
        assert_only_lock_timeouts(bad, logged)
