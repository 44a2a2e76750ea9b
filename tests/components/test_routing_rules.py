"""Pure tests of components/sessionstack/routing_rules.py: which paths reach Apache, which reach WildFly."""

import re

import pytest

from sessionstack import routing_rules as rr

STATIC = [
    "/index.html", "/img/a.png", "/img/a.PNG", "/img/Photo.JpG", "/css/site.css", "/js/app.js",
    "/js/app.mjs", "/js/app.js.map", "/fonts/x.woff2", "/fonts/x.woff", "/a/b/c/d/report.pdf",
    "/robots.txt", "/session-demo/logo.svg", "/v.1.2/app.min.js", "/dl/archive.tar.gz",
]
DYNAMIC = [
    "/", "/session-demo/", "/session-demo/index.jsp", "/backend", "/a.jsp", "/api/items",
    "/a.png/x", "/img.png/", "/.png", "/img/.css", "/..png", "/a.pngx", "/a.exe", "/a.swf",
    "/a.shtml", "/a.xhtml", "/cssfile", "/login.do", "/a.json", "/x.htmlx",
]


@pytest.mark.parametrize("path", STATIC)
def test_static_paths_match_the_regex(path):
    assert rr.is_static_path(path)
    assert re.fullmatch(rr.static_path_regex(), path)


@pytest.mark.parametrize("path", DYNAMIC)
def test_dynamic_paths_do_not_match_the_regex(path):
    assert not rr.is_static_path(path)


def test_regex_is_anchored_and_needs_no_flags():
    regex = rr.static_path_regex()
    assert regex.startswith("^/") and regex.endswith("$")
    assert "(?i" not in regex
    # search (not fullmatch) must agree with fullmatch: the anchors do the work, as in nginx and RE2.
    for path in STATIC + DYNAMIC:
        assert bool(re.search(regex, path)) == rr.is_static_path(path), path


def test_regex_means_the_same_with_and_without_case_folding():
    # ingress-nginx applies regex paths with '~*' (case-insensitive), Envoy's RE2 is case-sensitive.
    regex = rr.static_path_regex()
    for path in STATIC + DYNAMIC + ["/IMG/A.PNG", "/Index.HTML", "/A.JSP"]:
        assert bool(re.fullmatch(regex, path)) == bool(re.fullmatch(regex, path, re.IGNORECASE)), path


def test_longer_extension_is_not_shadowed_by_its_prefix():
    regex = rr.static_path_regex(("woff", "woff2", "js", "json"))
    assert re.fullmatch(regex, "/f.woff2") and re.fullmatch(regex, "/d.json")
    assert regex.index("[wW][oO][fF][fF]2") < regex.index("[wW][oO][fF][fF]|")


def test_regex_fits_gateway_api_length_limit():
    assert len(rr.static_path_regex()) <= 1024  # HTTPPathMatch.value maxLength


def test_default_extensions_drop_executables_and_dead_plugins():
    for junk in ("exe", "bat", "vbs", "ocx", "swf", "cab", "bin", "shtml"):
        assert junk not in rr.STATIC_EXTENSIONS
    for needed in ("html", "htm", "css", "js", "png", "jpg", "svg", "woff2", "zip", "pdf"):
        assert needed in rr.STATIC_EXTENSIONS


def test_custom_extensions():
    assert rr.is_static_path("/a.jsp", ("jsp",))
    assert not rr.is_static_path("/a.png", ("jsp",))


@pytest.mark.parametrize("bad, fragment", [
    ((), "at least one"),
    ("png", "tuple"),
    ((".png",), "'.png'"),
    (("PNG",), "'PNG'"),
    (("png", "png"), "'png' appears twice"),
    (("a|b",), "'a|b'"),
])
def test_bad_extensions_are_rejected_with_the_value(bad, fragment):
    with pytest.raises(ValueError, match="extensions") as err:
        rr.static_path_regex(bad)
    assert fragment in str(err.value)


def test_ingress_path_drops_only_the_caret():
    regex = rr.static_path_regex()
    assert rr.ingress_nginx_path(regex) == regex[1:]
    assert rr.ingress_nginx_path(regex).startswith("/")
    with pytest.raises(ValueError, match="must start with '\\^/'"):
        rr.ingress_nginx_path("/x")


def test_alb_patterns_are_chunked_to_five_and_cover_both_cases():
    chunks = rr.alb_path_patterns()
    flat = [v for chunk in chunks for v in chunk]
    assert all(1 <= len(c) <= rr.ALB_VALUES_PER_CONDITION for c in chunks)
    assert all(len(c) == 5 for c in chunks[:-1])
    assert len(flat) == len(set(flat)) == 2 * len(rr.STATIC_EXTENSIONS)
    assert all(len(v) <= rr.ALB_PATTERN_MAX_LENGTH and re.fullmatch(r"\*\.[a-zA-Z0-9]+", v) for v in flat)
    assert [len(c) for c in rr.alb_path_patterns(("png", "css"), case_variants=False)] == [2]
    assert len(rr.alb_path_patterns(tuple(f"e{i}" for i in range(11)), case_variants=False)) == 3


def test_alb_patterns_agree_with_the_regex_except_mixed_case_and_dot_files():
    flat = [v for chunk in rr.alb_path_patterns() for v in chunk]

    def alb_static(path):
        return any(rr.alb_path_matches(p, path) for p in flat)

    for path in STATIC + DYNAMIC + ["/IMG/A.PNG"]:
        expected = rr.is_static_path(path)
        mixed_case = re.search(r"\.[A-Za-z0-9]*[a-z][A-Za-z0-9]*[A-Z]|\.[A-Za-z0-9]*[A-Z][A-Za-z0-9]*[a-z]", path.rsplit("/", 1)[-1])
        dot_file = re.fullmatch(r"\.+[a-z0-9]+", path.rsplit("/", 1)[-1])
        if mixed_case:
            assert not alb_static(path), path  # documented: mixed case falls through to WildFly on ALB
        elif dot_file:
            assert alb_static(path), path  # documented: Apache refuses dot-files itself
        else:
            assert alb_static(path) == expected, path


def test_alb_matcher_semantics():
    assert rr.alb_path_matches("*.png", "/a/b.png")
    assert not rr.alb_path_matches("*.png", "/a/b.PNG")
    assert not rr.alb_path_matches("*.png", "/a/b.png/x")
    assert rr.alb_path_matches("/img/?.css", "/img/a.css")
    assert not rr.alb_path_matches("/img/?.css", "/img/ab.css")


def test_rules_from_cookie_name():
    rules = rr.RoutingRules.for_cookie("SESSIONSTACK_ROUTE")
    assert rules.session_cookie == "SESSIONSTACK_ROUTE"
    assert rules.cookie_max_age_seconds == 3600
    assert rules.dynamic_prefix == "/"
    assert rules.demo_path == "/session-demo/"
    assert rules.static_regex == rr.static_path_regex()
    assert rules.ingress_static_path == rules.static_regex[1:]
    assert rules.alb_static_patterns == rr.alb_path_patterns()
    assert rules.is_static("/a.css") and not rules.is_static(rules.demo_path)
    assert rr.RoutingRules.for_cookie("r", 60).cookie_max_age_seconds == 60
    with pytest.raises(Exception):
        rules.session_cookie = "other"  # frozen


@pytest.mark.parametrize("name", ["JSESSIONID", "jsessionid", "SESSION"])
def test_cookie_may_not_shadow_the_app_session_cookie(name):
    with pytest.raises(ValueError, match=f"session_cookie must differ .*got '{name}'"):
        rr.RoutingRules.for_cookie(name)


@pytest.mark.parametrize("name", ["", "a b", "a;b", "a=b", "x" * 65, "é"])
def test_bad_cookie_names_are_rejected(name):
    with pytest.raises(ValueError, match=r"session_cookie must be a cookie name .*got " + re.escape(repr(name))):
        rr.RoutingRules.for_cookie(name)


@pytest.mark.parametrize("age", [0, -1, 604801, True, "3600", 1.5])
def test_bad_max_age_is_rejected(age):
    with pytest.raises(ValueError, match=r"cookie_max_age_seconds must be an integer from 1 to 604800.*got " + re.escape(repr(age))):
        rr.RoutingRules.for_cookie("ROUTE", age)


def test_dynamic_prefix_and_demo_path_are_checked():
    with pytest.raises(ValueError, match="dynamic_prefix must be '/', got '/app'"):
        rr.RoutingRules("ROUTE", dynamic_prefix="/app")
    with pytest.raises(ValueError, match="demo_path must start and end with '/'.*got '/demo.html'"):
        rr.RoutingRules("ROUTE", demo_path="/demo.html")
    with pytest.raises(ValueError, match="demo_path .*got 'session-demo'"):
        rr.RoutingRules("ROUTE", demo_path="session-demo")
