"""verify.check against a real HTTP server on 127.0.0.1 speaking the demo protocol."""

import pytest

from demo_server import DemoStack
from verify.check import Observation, SessionResult, demo_url, judge, run_check


def test_shared_store_round_robin_passes_and_sees_no_affinity():
    with DemoStack(pods=3, store="shared") as stack:
        report = run_check(stack.url, sessions=12, requests=6, min_pods=3, concurrency=1)
    assert report.passed, report.summary()
    assert report.total_requests == 72 and report.failed_requests == 0
    assert set(report.pods) == {"demo-0-0", "demo-0-1", "demo-0-2"}
    assert report.affinity["kind"] == "none"
    assert all(r.observations[-1].counter == 6 for r in report.results)
    assert len({r.session_ids[0] for r in report.results}) == 12  # one session per user


def test_per_pod_sessions_without_affinity_are_lost():
    # The field report's failure: sessions in pod memory, round-robin routing.
    with DemoStack(pods=2, store="per-pod") as stack:
        report = run_check(stack.url, sessions=8, requests=5, concurrency=1)
    assert not report.passed
    assert len(report.lost_sessions) == 8
    assert "sessions lost" in report.summary()
    assert any("replaced by" in e for r in report.lost_sessions for e in r.lost)


def test_per_pod_sessions_with_affinity_pass_and_affinity_is_reported():
    with DemoStack(pods=3, store="per-pod", routing="sticky") as stack:
        report = run_check(stack.url, sessions=30, requests=4)
    assert report.passed, report.summary()
    assert report.affinity["kind"] == "sticky"
    assert report.affinity["sessions_moved"] == 0


def test_counter_reset_is_a_lost_session():
    with DemoStack(pods=2, store="shared", reset_every=3) as stack:
        report = run_check(stack.url, sessions=4, requests=5)
    assert not report.passed
    assert len(report.lost_sessions) == 4
    assert all("restarted at 1" in r.lost[0] for r in report.lost_sessions)


def test_stale_counter_is_a_regression():
    with DemoStack(pods=2, store="shared", regress_every=4) as stack:
        report = run_check(stack.url, sessions=3, requests=6)
    assert not report.passed
    assert not report.lost_sessions
    assert len(report.regressed_sessions) == 3
    assert [c for c in report.checks if c["name"] == "counters"][0]["status"] == "fail"


def test_failed_requests_fail_the_check_unless_allowed():
    with DemoStack(pods=2, store="shared", error_every=7) as stack:
        strict = run_check(stack.url, sessions=5, requests=7, concurrency=1)
        lenient = run_check(stack.url, sessions=5, requests=7, concurrency=1, allow_errors=10)
    assert strict.failed_requests == 5 and not strict.passed
    assert not strict.lost_sessions and not strict.skipped_sessions
    assert lenient.passed, lenient.summary()


def test_missing_demo_headers_is_a_protocol_failure():
    with DemoStack(pods=2, headers=False) as stack:
        report = run_check(stack.url, sessions=2, requests=2)
    assert not report.passed
    assert report.failed_requests == 4
    assert all(o.error.startswith("protocol: missing") for o in report.observations)
    assert len(report.never_answered) == 2


def test_min_pods_fails_when_one_pod_answers():
    with DemoStack(pods=1) as stack:
        report = run_check(stack.url, sessions=3, requests=3, min_pods=2)
    assert not report.passed
    assert report.affinity["kind"] == "unknown"
    assert [c for c in report.checks if c["name"] == "pods seen"][0]["status"] == "fail"


def test_unreachable_url_fails():
    with DemoStack() as stack:
        url = stack.url
    report = run_check(url, sessions=2, requests=2, timeout=2)
    assert not report.passed
    assert all(o.error.startswith("connection") for o in report.observations)


def test_wrong_path_is_an_http_failure():
    with DemoStack() as stack:
        report = run_check(stack.url, sessions=1, requests=2, path="/nope/")
    assert not report.passed
    assert report.observations[0].error.startswith("http 404")


@pytest.mark.parametrize("base, expected", [
    ("http://h:8080", "http://h:8080/session-demo/"),
    ("http://h:8080/", "http://h:8080/session-demo/"),
    ("https://h/app", "https://h/app/session-demo/"),
    ("http://h/session-demo/", "http://h/session-demo/"),
    ("http://h/session-demo", "http://h/session-demo"),
])
def test_demo_url(base, expected):
    assert demo_url(base) == expected


@pytest.mark.parametrize("bad", ["h:8080", "ftp://h/", "http://"])
def test_demo_url_rejects_non_http(bad):
    with pytest.raises(ValueError, match="base URL must be http"):
        demo_url(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"sessions": 0}, "sessions must be an integer >= 1, got 0"),
    ({"requests": True}, "requests must be an integer >= 1, got True"),
    ({"min_pods": 0}, "min_pods must be an integer >= 1"),
])
def test_run_check_validates_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_check("http://127.0.0.1:9", **kwargs)


def _result(*answers):
    r = SessionResult(user=0)
    for i, a in enumerate(answers):
        if a is None:
            r.observations.append(Observation(i, 0, 1, error="http 502: Bad Gateway"))
        else:
            sid, counter = a
            r.observations.append(Observation(i, 0, 1, 200, "p", sid, counter))
    judge(r)
    return r


def test_judge_allows_a_jump_after_a_failed_request():
    # The failed request may have reached the server and counted.
    r = _result(("a", 1), None, ("a", 3), ("a", 4))
    assert not (r.lost or r.regressed or r.skipped)


def test_judge_flags_a_jump_without_failed_request():
    assert _result(("a", 1), ("a", 3)).skipped


def test_judge_session_id_rotation_with_data_kept_is_not_loss():
    r = _result(("a", 1), ("b", 2), ("b", 3))
    assert not r.lost and r.rotated


def test_judge_new_session_is_loss():
    r = _result(("a", 1), ("a", 2), ("b", 1))
    assert len(r.lost) == 1 and "replaced by b" in r.lost[0]


def test_session_check_phases_across_a_pod_restart():
    # In-memory sessions with affinity survive until their pod is replaced; shared ones survive.
    from verify.check import SessionCheck
    for store, expect_loss in (("per-pod", True), ("shared", False)):
        with DemoStack(pods=2, store=store, routing="sticky", rollout_step_s=0) as stack:
            check = SessionCheck(stack.url, 6)
            check.rounds(2)
            stack.start_rollout()
            stack.rollout_thread.join()
            check.rounds(2)
            report = check.report()
        assert bool(report.lost_sessions) is expect_loss, (store, report.summary())
        assert report.total_requests == 24
        assert all(len(r.observations) == 4 for r in report.results)


def test_expected_affinity_turns_the_observation_into_a_verdict():
    with DemoStack(pods=3, store="shared", routing="sticky") as stack:
        sticky_ok = run_check(stack.url, sessions=6, requests=4, expect_affinity="sticky")
        none_fails = run_check(stack.url, sessions=6, requests=4, expect_affinity="none")
    assert sticky_ok.passed, sticky_ok.summary()
    assert not none_fails.passed
    assert "affinity: sticky: every session stayed on one pod; expected none" in none_fails.summary()
    with pytest.raises(ValueError, match="expect_affinity must be 'none' or 'sticky'"):
        run_check("http://127.0.0.1:9", expect_affinity="always")


def _report_with(moved: int, stayed: int, expect: str):
    from verify.check import Observation, Report, SessionResult

    results = []
    for user in range(moved + stayed):
        home = "pod-a" if user % 2 else "pod-b"
        pods = ["pod-a", "pod-b"] if user < moved else [home, home]
        observations = [Observation(index=i, started=float(i), elapsed_ms=1.0, status=200, pod=pod, session=f"s{user}", counter=i + 1) for i, pod in enumerate(pods)]
        results.append(SessionResult(user=user, observations=observations))
    return Report(url="http://127.0.0.1:1", sessions=moved + stayed, requests_per_session=2, duration_s=1.0, results=results, expect_affinity=expect)


@pytest.mark.parametrize(
    ("moved", "stayed", "expect", "status"),
    [
        (9, 1, "none", "pass"),  # round-robin: one session stayed on its pod by chance
        (2, 8, "none", "fail"),  # mostly pinned: something routes by session
        (0, 10, "none", "fail"),
        (0, 10, "sticky", "pass"),
        (1, 9, "sticky", "fail"),
    ],
)
def test_expected_affinity_tolerates_chance_but_not_pinning(moved, stayed, expect, status):
    checks = {c["name"]: c for c in _report_with(moved, stayed, expect).checks}
    assert checks["affinity"]["status"] == status
