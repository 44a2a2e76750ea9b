"""Command line: ``python -m verify URL [options]``.

Exit status: 0 when every check passed (no session lost, no counter reset or regressed, no
failed request beyond --allow-errors, enough pods, rollout completed); 1 when a check failed;
2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from verify.check import DEFAULT_PATH, Report, run_check
from verify.rollout import KubectlRollout

MARK = {"pass": "PASS", "fail": "FAIL", "info": "info"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m verify",
        description="Session-survival check for a deployed sessionstack: N simulated users, each "
                    "with its own cookie jar, send M requests to the session demo and the "
                    "answers are checked for lost sessions, reset or regressed counters, "
                    "failed requests, pods seen and routing affinity.",
        epilog="Exit status: 0 all checks passed, 1 a check failed (e.g. a session was lost), "
               "2 usage error.")
    p.add_argument("url", help="base URL of the stack, e.g. http://localhost:8080 "
                               f"(the demo path {DEFAULT_PATH} is appended unless present)")
    p.add_argument("-n", "--sessions", type=int, default=20, help="simulated users (default 20)")
    p.add_argument("-m", "--requests", type=int, default=10, help="requests per user (default 10)")
    p.add_argument("--path", default=DEFAULT_PATH, help=f"demo path (default {DEFAULT_PATH})")
    p.add_argument("-c", "--concurrency", type=int, default=None,
                   help="users running at once (default min(sessions, 16))")
    p.add_argument("--interval", type=float, default=None,
                   help="seconds between a user's requests (default 0; 0.2 with --rollout)")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, s (default 10)")
    p.add_argument("--min-pods", type=int, default=1,
                   help="fail unless at least this many pods answered (default 1)")
    p.add_argument("--allow-errors", type=int, default=0,
                   help="failed requests tolerated before the check fails (default 0)")
    p.add_argument("--expect-affinity", choices=["none", "sticky"], default=None,
                   help="fail unless routing showed this affinity: 'none' proves sessions are shared "
                        "(at least half of the sessions moved between pods), 'sticky' that cookie affinity works")
    p.add_argument("-H", "--header", action="append", default=[], metavar="NAME: VALUE",
                   help="extra request header (repeatable), e.g. 'Host: shop.example.com'")
    p.add_argument("-k", "--insecure", action="store_true", help="do not verify TLS certificates")
    g = p.add_argument_group("rolling restart during the check")
    g.add_argument("--rollout", metavar="DEPLOYMENT",
                   help="run `kubectl rollout restart deployment/DEPLOYMENT` after every user's "
                        "first request and keep checking until `kubectl rollout status` is done")
    g.add_argument("--namespace", "-N", default="default", help="namespace of the deployment")
    g.add_argument("--context", default=None, help="kubectl --context")
    g.add_argument("--kubectl", default="kubectl", help="kubectl executable (default: from PATH)")
    g.add_argument("--rollout-timeout", type=float, default=600.0,
                   help="give up on the rollout after this many seconds (default 600)")
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    o.add_argument("--progress", action="store_true",
                   help="show progress on stderr even when it is not a terminal")
    o.add_argument("--no-progress", action="store_true", help="never show progress")
    o.add_argument("-v", "--verbose", action="store_true",
                   help="list every failing session and error in the text report")
    return p


class Progress:
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.last = 0.0
        self.t0 = time.monotonic()

    def __call__(self, done: int, total: int, failed: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "." * (width - filled)
        rate = done / (now - self.t0) if now > self.t0 else 0.0
        self.stream.write(f"\r[{bar}] {done}/{total} requests, {failed} failed, {rate:.0f} req/s ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r" + " " * 78 + "\r")
        self.stream.flush()


def format_report(report: Report, verbose: bool = False) -> str:
    lines = [f"sessionstack verify: {report.url}"]
    rate = report.total_requests / report.duration_s if report.duration_s > 0 else 0.0
    lines.append(f"  {report.sessions} sessions x {report.requests_per_session} requests: "
                 f"{report.total_requests} requests in {report.duration_s:.1f} s ({rate:.0f} req/s)")
    lat = report.latency_ms
    if lat:
        lines.append(f"  latency ms: p50 {lat['p50']}, p90 {lat['p90']}, p99 {lat['p99']}, max {lat['max']}")
    lines.append("")
    name_width = max(len(c["name"]) for c in report.checks)
    for c in report.checks:
        lines.append(f"  {MARK[c['status']]:<4}  {c['name']:<{name_width}}  {c['detail']}")
    problems = ([(r.user, e) for r in report.lost_sessions for e in r.lost]
                + [(r.user, e) for r in report.regressed_sessions for e in r.regressed]
                + [(r.user, e) for r in report.skipped_sessions for e in r.skipped])
    errors = [(r.user, f"request {o.index + 1}: {o.error}") for r in report.results for o in r.errors]
    shown = None if verbose else 5
    if problems:
        lines.append("")
        lines.append("  session problems:")
        lines += [f"    user {u}: {e}" for u, e in problems[:shown]]
        if shown and len(problems) > shown:
            lines.append(f"    ... {len(problems) - shown} more (-v lists all, --json has all)")
    if errors:
        lines.append("")
        lines.append("  failed requests:")
        lines += [f"    user {u}: {e}" for u, e in errors[:shown]]
        if shown and len(errors) > shown:
            lines.append(f"    ... {len(errors) - shown} more (-v lists all)")
    lines.append("")
    if report.passed:
        lines.append("VERDICT: PASS - every session survived")
    else:
        failed = [c["name"] for c in report.checks if c["status"] == "fail"]
        lines.append(f"VERDICT: FAIL - {', '.join(failed)}")
    return "\n".join(lines)


def parse_headers(items: list[str]) -> dict[str, str]:
    headers = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"--header must look like 'Name: value', got {item!r}")
        headers[name.strip()] = value.strip()
    return headers


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        headers = parse_headers(args.header)
        rollout = None
        if args.rollout:
            rollout = KubectlRollout(args.rollout, args.namespace, kubectl=args.kubectl,
                                     context=args.context, status_timeout=args.rollout_timeout)
        interval = args.interval if args.interval is not None else (0.2 if rollout else 0.0)
        show = not args.no_progress and (args.progress or sys.stderr.isatty())
        progress = Progress(sys.stderr) if show else None
        try:
            report = run_check(args.url, args.sessions, args.requests, path=args.path,
                               concurrency=args.concurrency, timeout=args.timeout,
                               interval=interval, min_pods=args.min_pods,
                               allow_errors=args.allow_errors, insecure=args.insecure,
                               headers=headers, rollout=rollout,
                               rollout_timeout=args.rollout_timeout, progress=progress,
                               expect_affinity=args.expect_affinity)
        finally:
            if progress:
                progress.close()
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print(f"python -m verify: error: {exc}", file=sys.stderr)
        return 2
    code = 0 if report.passed else 1
    try:
        if args.json:
            json.dump(report.to_dict(), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            print(format_report(report, args.verbose))
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `| head`: the verdict still goes out as the exit status
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code
