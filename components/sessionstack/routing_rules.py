"""Pure routing rules shared by every router: which paths are static (Apache) and which dynamic (WildFly).

Nothing here imports pulumi. The same values are rendered into the Gateway API HTTPRoute and the
ingress-nginx Ingresses (components/routing.py), the ALB listener rules (components/aws_front_door.py)
and the nginx config of the cluster tests' router, so a path reaches the same tier everywhere.

The split follows the classic 3-tier setup: a request whose last path segment ends in a static
file extension goes to Apache, everything else (``/``, ``/session-demo/``, ``/a.jsp``, ``/backend``)
goes to WildFly with cookie affinity.

Case handling: the extension is matched case-insensitively (``/img/A.PNG`` is static; camera and
Windows tools write upper-case extensions). The regex spells each letter as a class (``[pP][nN][gG]``)
instead of relying on a flag, so it means the same under ingress-nginx (PCRE, applied with the
case-insensitive ``~*`` location), Envoy (RE2, case-sensitive) and Python's ``re``. ALB path
patterns are case-sensitive and have no classes: they carry the lower- and upper-case spelling of
each extension, and a mixed-case one (``a.Png``) falls through to WildFly on ALB only. That is a
performance difference (WildFly answers 404 for files it does not have), never a session one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Modernised from the 3-tier field notes (htm html bin zip cab exe js css jpeg ... swf ocx). Dropped,
# on purpose: exe, bat, vbs, bin, cab, ocx - executables and installers a web tier should not hand
# out under a generic rule; swf - Flash is dead since 2020; shtml - server-side includes run code,
# which this static tier does not enable (mod_include stays off); jfif/pjpeg/pjp/jpe and mpe/mpv/mpegv
# - obsolete aliases nobody links to; ppt - replaced by pdf for published documents. Added: modern
# image (svg, webp, avif, ico), font (woff2, woff, ttf, otf), module/source-map (mjs, map) and
# video (mp4, webm) formats that browsers actually request.
STATIC_EXTENSIONS: tuple[str, ...] = (
    # documents
    "html", "htm", "txt", "pdf",
    # styles and scripts
    "css", "js", "mjs", "map",
    # images
    "png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "ico", "bmp",
    # fonts
    "woff2", "woff", "ttf", "otf",
    # archives and media
    "zip", "gz", "mp4", "webm",
)

DYNAMIC_PREFIX = "/"
"""Everything that is not static goes to WildFly."""

DEMO_PATH = "/session-demo/"
"""Where the session demo app answers (the demo-app protocol in the team sheet)."""

DEFAULT_COOKIE_MAX_AGE_SECONDS = 3600
"""Affinity cookie lifetime: an hour, like the ALB lb_cookie default in the EKS field notes."""

ALB_VALUES_PER_CONDITION = 5
"""An ALB listener rule condition takes at most five path-pattern values."""

ALB_PATTERN_MAX_LENGTH = 128

_EXTENSION = re.compile(r"^[a-z0-9]{1,16}$")
# RFC 6265 cookie-name = token (RFC 7230 tchar), kept to 64 characters.
_COOKIE_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
# The applications' own session cookies: an affinity cookie with one of these names would make the
# router overwrite (nginx) or shadow (Envoy) the session id itself.
APP_SESSION_COOKIES: tuple[str, ...] = ("JSESSIONID", "SESSION")


def _check_extensions(extensions: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if isinstance(extensions, str) or not isinstance(extensions, (tuple, list)):
        raise ValueError(f"extensions must be a tuple of file extensions, got {extensions!r}")
    if not extensions:
        raise ValueError("extensions must name at least one file extension, got an empty tuple")
    seen: set[str] = set()
    for ext in extensions:
        if not isinstance(ext, str) or not _EXTENSION.match(ext):
            raise ValueError(
                f"extensions entry must be 1-16 lower-case letters or digits without a dot, got {ext!r}"
            )
        if ext in seen:
            raise ValueError(f"extensions entry {ext!r} appears twice")
        seen.add(ext)
    return tuple(extensions)


def _any_case(text: str) -> str:
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in text)


def static_path_regex(extensions: tuple[str, ...] = STATIC_EXTENSIONS) -> str:
    """Anchored regex for paths Apache serves: a non-empty file name ending in one of ``extensions``.

    ``^/(?:.*/)?[^/]*[^/.]\\.(?:...)$`` - the file name needs a character other than '.' right before
    the extension's dot, so ``/.png``, ``/..png`` and ``/img/.css`` stay dynamic, and ``$`` keeps path
    info (``/a.png/x``) and directories (``/img.png/``) dynamic. ALB patterns cannot express the first
    rule; a dot-file request there reaches Apache, which refuses dot-files (apache_config). Longer extensions come first so alternation never stops at a prefix
    (``woff2`` before ``woff``), which matters for engines without full backtracking semantics.
    """
    exts = sorted(_check_extensions(extensions), key=lambda e: (-len(e), e))
    alternation = "|".join(_any_case(e) for e in exts)
    return rf"^/(?:.*/)?[^/]*[^/.]\.(?:{alternation})$"


def ingress_nginx_path(regex: str) -> str:
    """The regex as an Ingress path: ingress-nginx prefixes ``^`` itself and the API wants a '/' first."""
    if not regex.startswith("^/"):
        raise ValueError(f"regex must start with '^/', got {regex!r}")
    return regex[1:]


def is_static_path(path: str, extensions: tuple[str, ...] = STATIC_EXTENSIONS) -> bool:
    """How every router classifies ``path`` (without query string): True means Apache."""
    return re.fullmatch(static_path_regex(extensions), path) is not None


def alb_path_patterns(
    extensions: tuple[str, ...] = STATIC_EXTENSIONS, *, case_variants: bool = True
) -> list[list[str]]:
    """ALB path-pattern values for the static tier, in chunks of at most five (one listener rule each).

    ``*.png`` matches any path ending in ``.png``. With ``case_variants`` each extension also gets its
    upper-case spelling (``*.PNG``), since ALB path patterns are case-sensitive.
    """
    values: list[str] = []
    for ext in _check_extensions(extensions):
        values.append(f"*.{ext}")
        if case_variants and ext.upper() != ext:
            values.append(f"*.{ext.upper()}")
    return [values[i:i + ALB_VALUES_PER_CONDITION] for i in range(0, len(values), ALB_VALUES_PER_CONDITION)]


def alb_path_matches(pattern: str, path: str) -> bool:
    """ALB's path-pattern semantics: case-sensitive, ``*`` any run of characters, ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, path, flags=re.DOTALL) is not None


def check_cookie_name(name: str, field: str = "cookie_name") -> str:
    """Returns ``name`` if it can be the router's affinity cookie, else raises a ValueError naming it."""
    if not isinstance(name, str) or not _COOKIE_TOKEN.match(name):
        raise ValueError(
            f"{field} must be a cookie name of 1-64 token characters (no spaces, ';', ',' or '='), got {name!r}"
        )
    if name.upper() in APP_SESSION_COOKIES:
        raise ValueError(
            f"{field} must differ from the applications' session cookies "
            f"({', '.join(APP_SESSION_COOKIES)}), got {name!r}: the router would overwrite the session id"
        )
    return name


@dataclass(frozen=True)
class RoutingRules:
    """Everything a router needs to split static from dynamic traffic and pin sessions."""

    session_cookie: str
    """Name of the affinity cookie the router sets (never the app's JSESSIONID/SESSION)."""
    cookie_max_age_seconds: int = DEFAULT_COOKIE_MAX_AGE_SECONDS
    extensions: tuple[str, ...] = STATIC_EXTENSIONS
    dynamic_prefix: str = DYNAMIC_PREFIX
    demo_path: str = DEMO_PATH

    def __post_init__(self) -> None:
        check_cookie_name(self.session_cookie, "session_cookie")
        age = self.cookie_max_age_seconds
        if isinstance(age, bool) or not isinstance(age, int) or not 1 <= age <= 604800:
            raise ValueError(f"cookie_max_age_seconds must be an integer from 1 to 604800 (7 days), got {age!r}")
        _check_extensions(self.extensions)
        if self.dynamic_prefix != DYNAMIC_PREFIX:
            raise ValueError(f"dynamic_prefix must be '/', got {self.dynamic_prefix!r}: WildFly takes every non-static path")
        # A path ending in '/' is never static, so the demo always reaches WildFly.
        if not (self.demo_path.startswith("/") and self.demo_path.endswith("/")):
            raise ValueError(f"demo_path must start and end with '/' (a WildFly context), got {self.demo_path!r}")

    @classmethod
    def for_cookie(cls, session_cookie: str, max_age_seconds: int = DEFAULT_COOKIE_MAX_AGE_SECONDS) -> "RoutingRules":
        return cls(session_cookie=session_cookie, cookie_max_age_seconds=max_age_seconds)

    @property
    def static_regex(self) -> str:
        """Anchored regex (``^/...$``) for Gateway API RegularExpression matches and nginx configs."""
        return static_path_regex(self.extensions)

    @property
    def ingress_static_path(self) -> str:
        """The static regex as an ingress-nginx ImplementationSpecific path (no leading '^')."""
        return ingress_nginx_path(self.static_regex)

    @property
    def alb_static_patterns(self) -> list[list[str]]:
        """ALB path patterns, chunked to five values per condition (one listener rule per chunk)."""
        return alb_path_patterns(self.extensions)

    def is_static(self, path: str) -> bool:
        return is_static_path(path, self.extensions)
