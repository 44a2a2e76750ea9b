"""Session-survival check for a deployed sessionstack (``python -m verify URL``).

Library use::

    from verify.check import run_check
    report = run_check("http://127.0.0.1:8080", sessions=20, requests=10)
    assert report.passed, report.summary()
"""

from verify.check import Report, SessionCheck, SessionResult, run_check

__all__ = ["Report", "SessionCheck", "SessionResult", "run_check"]
