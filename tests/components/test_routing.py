"""SessionRouting on mocks: static paths reach Apache, dynamic paths reach WildFly with affinity.

The rendered routes are evaluated against sample paths with the match semantics of each router
(Envoy Gateway's precedence for HTTPRoute matches; ingress-nginx's case-insensitive, longest-first
regex locations), so a test fails if a path would land on the wrong tier.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from sessionstack import routing_rules as rr
from sessionstack.routing import (
    router_peers,
    RoutingImplementation,
    ENVOY_GATEWAY_CHART,
    ENVOY_GATEWAY_VERSION,
    INGRESS_NGINX_VERSION,
    PLACEHOLDER_HOST,
    SessionRouting,
    SessionRoutingArgs,
    gateway_duration,
)
from offline import k8s_checks

GATEWAY = RoutingImplementation.GATEWAY_API
NGINX = RoutingImplementation.INGRESS_NGINX
A = "nginx.ingress.kubernetes.io/"

STATIC = ["/index.html", "/css/site.css", "/js/app.js", "/img/logo.svg", "/img/A.PNG", "/fonts/x.woff2", "/docs/a.pdf"]
DYNAMIC = ["/", "/session-demo/", "/session-demo/index.jsp", "/backend", "/a.jsp", "/api/cart", "/healthz", "/a.png/x", "/.png"]


def _args(**kw: Any) -> SessionRoutingArgs:
    base = dict(namespace="shop", wildfly_service_name="wildfly", wildfly_service_port=8080, apache_service_name="apache", apache_service_port=80)
    return SessionRoutingArgs(**{**base, **kw})


def _services(namespace: str = "shop") -> list[dict[str, Any]]:
    """Stand-ins for the Services the routes point at, so k8s_checks can resolve the backends."""
    def svc(name: str, port: int, app: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
                "spec": {"ports": [{"name": "http", "port": port, "targetPort": "http"}]}}
    return [svc("wildfly", 8080, "wildfly"), svc("apache", 80, "apache")]


# --- router semantics ---------------------------------------------------------------------------

def _prefix_matches(prefix: str, path: str) -> bool:
    """Gateway API PathPrefix: element-wise prefix ('/' matches everything)."""
    if prefix == "/":
        return True
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def envoy_gateway_route(route: dict[str, Any], path: str) -> dict[str, Any]:
    """The HTTPRoute rule Envoy Gateway picks: Exact > RegularExpression > PathPrefix, then longer value."""
    order = {"Exact": 0, "RegularExpression": 1, "PathPrefix": 2}
    candidates = []
    for rule in route["spec"]["rules"]:
        for match in rule["matches"]:
            p = match["path"]
            candidates.append((order[p["type"]], -len(p["value"]), p, rule))
    for _, _, p, rule in sorted(candidates, key=lambda c: (c[0], c[1])):
        if p["type"] == "Exact" and path == p["value"]:
            return rule
        if p["type"] == "RegularExpression" and re.fullmatch(p["value"], path):  # RE2 full match, case-sensitive
            return rule
        if p["type"] == "PathPrefix" and _prefix_matches(p["value"], path):
            return rule
    raise AssertionError(f"no rule matches {path}")


def ingress_nginx_route(ingresses: list[dict[str, Any]], path: str) -> dict[str, Any]:
    """The Ingress whose location ingress-nginx picks for ``path`` (one host, use-regex on it).

    use-regex on any Ingress of a host turns every path of that host into ``location ~* "^<path>"``;
    locations are ordered by path length, longest first, and the first regex that matches wins.
    """
    host_regex = any(i["metadata"].get("annotations", {}).get(A + "use-regex") == "true" for i in ingresses)
    assert host_regex, "the static regex path only works with use-regex"
    locations = []
    for ing in ingresses:
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                locations.append((p["path"], ing))
    for path_value, ing in sorted(locations, key=lambda loc: -len(loc[0])):
        if re.match("^" + path_value, path, re.IGNORECASE):
            return ing
    raise AssertionError(f"no location matches {path}")


def _backend_of_rule(rule: dict[str, Any]) -> str:
    return rule["backendRefs"][0]["name"]


def _backend_of_ingress(ing: dict[str, Any]) -> str:
    return ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]


# --- gateway-api --------------------------------------------------------------------------------

def test_gateway_api_objects_are_valid_and_resolve(pulumi_mocks):
    SessionRouting("routing", _args())
    objects = pulumi_mocks.objects()
    assert sorted(o["kind"] for o in objects) == ["Gateway", "HTTPRoute"]
    assert all(o["apiVersion"] == "gateway.networking.k8s.io/v1" for o in objects)
    assert k8s_checks.all_errors(objects + _services()) == []


@pytest.mark.parametrize("path", STATIC)
def test_gateway_api_static_paths_reach_apache_without_persistence(pulumi_mocks, path):
    SessionRouting("routing", _args())
    rule = envoy_gateway_route(pulumi_mocks.object("HTTPRoute", "routing"), path)
    assert _backend_of_rule(rule) == "apache"
    assert "sessionPersistence" not in rule


@pytest.mark.parametrize("path", DYNAMIC)
def test_gateway_api_dynamic_paths_reach_wildfly_with_cookie_persistence(pulumi_mocks, path):
    SessionRouting("routing", _args(cookie_name="ROUTE_X", cookie_max_age_seconds=5400))
    rule = envoy_gateway_route(pulumi_mocks.object("HTTPRoute", "routing"), path)
    assert _backend_of_rule(rule) == "wildfly"
    assert rule["backendRefs"][0]["port"] == 8080
    assert rule["sessionPersistence"] == {
        "type": "Cookie",
        "sessionName": "ROUTE_X",
        "absoluteTimeout": "1h30m",
        "cookieConfig": {"lifetimeType": "Permanent"},
    }


def test_gateway_api_never_sets_idle_timeout_which_envoy_gateway_rejects(pulumi_mocks):
    SessionRouting("routing", _args())
    route = pulumi_mocks.object("HTTPRoute", "routing")
    assert "idleTimeout" not in str(route)
    assert [r for r in route["spec"]["rules"] if "sessionPersistence" in r] == [route["spec"]["rules"][1]]


def test_gateway_listens_on_80_for_routes_of_its_own_namespace_with_the_given_class(pulumi_mocks):
    SessionRouting("routing", _args(gateway_class_name="my-class"))
    gateway = pulumi_mocks.object("Gateway", "routing")
    assert gateway["spec"]["gatewayClassName"] == "my-class"
    (listener,) = gateway["spec"]["listeners"]
    assert (listener["protocol"], listener["port"]) == ("HTTP", 80)
    assert listener["allowedRoutes"]["namespaces"] == {"from": "Same"}
    assert "hostname" not in listener
    route = pulumi_mocks.object("HTTPRoute", "routing")
    assert route["spec"]["parentRefs"][0]["name"] == "routing"
    assert route["spec"]["parentRefs"][0]["sectionName"] == listener["name"]
    assert "hostnames" not in route["spec"]


def test_gateway_api_with_host(pulumi_mocks):
    routing = SessionRouting("routing", _args(host="shop.example.com"))
    assert pulumi_mocks.object("Gateway", "routing")["spec"]["listeners"][0]["hostname"] == "shop.example.com"
    assert pulumi_mocks.object("HTTPRoute", "routing")["spec"]["hostnames"] == ["shop.example.com"]
    assert pulumi_mocks.value(routing.url) == "http://shop.example.com"


def test_gateway_api_outputs(pulumi_mocks):
    routing = SessionRouting("routing", _args())
    assert pulumi_mocks.value(routing.url) == f"http://{PLACEHOLDER_HOST}"
    assert pulumi_mocks.value(routing.demo_path) == "/session-demo/"
    assert pulumi_mocks.value(routing.route_names) == ["routing"]
    assert pulumi_mocks.value(routing.gateway_name) == "routing"
    assert pulumi_mocks.value(routing.address_command) == "kubectl -n shop get gateway routing -o jsonpath='{.status.addresses[0].value}'"


def test_gateway_api_regex_is_the_shared_static_regex_within_limits(pulumi_mocks):
    SessionRouting("routing", _args())
    static = pulumi_mocks.object("HTTPRoute", "routing")["spec"]["rules"][0]
    value = static["matches"][0]["path"]["value"]
    assert value == rr.static_path_regex()
    assert len(value) <= 1024


# --- ingress-nginx ------------------------------------------------------------------------------

def test_ingress_nginx_objects_are_valid_and_resolve(pulumi_mocks):
    SessionRouting("routing", _args(implementation=NGINX))
    objects = pulumi_mocks.objects()
    assert sorted(o["metadata"]["name"] for o in objects) == ["routing-dynamic", "routing-static"]
    assert all((o["apiVersion"], o["kind"]) == ("networking.k8s.io/v1", "Ingress") for o in objects)
    assert k8s_checks.all_errors(objects + _services()) == []


@pytest.mark.parametrize("path", STATIC)
def test_ingress_nginx_static_paths_reach_apache_without_affinity(pulumi_mocks, path):
    SessionRouting("routing", _args(implementation=NGINX))
    ingresses = [pulumi_mocks.object("Ingress", n) for n in ("routing-static", "routing-dynamic")]
    chosen = ingress_nginx_route(ingresses, path)
    assert _backend_of_ingress(chosen) == "apache"
    assert not any(k.startswith(A + "affinity") or k.startswith(A + "session-cookie") for k in chosen["metadata"].get("annotations", {}))


@pytest.mark.parametrize("path", DYNAMIC)
def test_ingress_nginx_dynamic_paths_reach_wildfly_with_cookie_affinity(pulumi_mocks, path):
    SessionRouting("routing", _args(implementation=NGINX, cookie_name="ROUTE_X", cookie_max_age_seconds=1800))
    ingresses = [pulumi_mocks.object("Ingress", n) for n in ("routing-static", "routing-dynamic")]
    chosen = ingress_nginx_route(ingresses, path)
    assert _backend_of_ingress(chosen) == "wildfly"
    ann = chosen["metadata"]["annotations"]
    assert ann[A + "affinity"] == "cookie"
    assert ann[A + "session-cookie-name"] == "ROUTE_X"
    assert ann[A + "session-cookie-max-age"] == "1800"
    assert ann[A + "session-cookie-change-on-failure"] == "true"
    assert ann[A + "session-cookie-path"] == "/"  # required with regex paths


def test_ingress_nginx_static_path_is_the_shared_regex_without_caret(pulumi_mocks):
    SessionRouting("routing", _args(implementation=NGINX, ingress_class_name="nginx-internal"))
    static = pulumi_mocks.object("Ingress", "routing-static")
    (path,) = static["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == rr.static_path_regex()[1:] and path["path"].startswith("/")
    assert path["pathType"] == "ImplementationSpecific"  # regex paths are not valid Prefix paths
    assert static["metadata"]["annotations"] == {A + "use-regex": "true"}
    assert static["spec"]["ingressClassName"] == "nginx-internal"
    assert pulumi_mocks.object("Ingress", "routing-dynamic")["spec"]["ingressClassName"] == "nginx-internal"


def test_ingress_nginx_with_host_and_outputs(pulumi_mocks):
    routing = SessionRouting("routing", _args(implementation=NGINX, host="shop.example.com"))
    for n in ("routing-static", "routing-dynamic"):
        assert pulumi_mocks.object("Ingress", n)["spec"]["rules"][0]["host"] == "shop.example.com"
    assert pulumi_mocks.value(routing.url) == "http://shop.example.com"
    assert pulumi_mocks.value(routing.route_names) == ["routing-static", "routing-dynamic"]
    assert pulumi_mocks.value(routing.gateway_name) == ""
    assert "get ingress routing-dynamic" in pulumi_mocks.value(routing.address_command)


# --- controller installation --------------------------------------------------------------------

def _releases(mocks):
    return [r for r in mocks.resources if r.type == "kubernetes:helm.sh/v3:Release"]


@pytest.mark.parametrize("implementation", [GATEWAY, NGINX])
def test_no_controller_unless_asked(pulumi_mocks, implementation):
    SessionRouting("routing", _args(implementation=implementation))
    assert _releases(pulumi_mocks) == []
    assert not [o for o in pulumi_mocks.objects() if o["kind"] == "GatewayClass"]


def test_envoy_gateway_install_is_pinned_and_brings_the_gateway_class(pulumi_mocks):
    SessionRouting("routing", _args(install_controller=True, gateway_class_name="eg"))
    (release,) = _releases(pulumi_mocks)
    assert release.inputs["chart"] == ENVOY_GATEWAY_CHART == "oci://docker.io/envoyproxy/gateway-helm"
    assert release.inputs["version"] == ENVOY_GATEWAY_VERSION and re.fullmatch(r"v1\.\d+\.\d+", ENVOY_GATEWAY_VERSION)
    assert release.inputs["namespace"] == "envoy-gateway-system"
    gateway_class = pulumi_mocks.object("GatewayClass", "eg")
    assert gateway_class["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    assert "namespace" not in gateway_class["metadata"]
    assert pulumi_mocks.object("Gateway", "routing")["spec"]["gatewayClassName"] == "eg"
    assert k8s_checks.all_errors(pulumi_mocks.objects() + _services()) == []


def test_ingress_nginx_install_is_pinned_and_serves_the_ingress_class(pulumi_mocks):
    SessionRouting("routing", _args(implementation=NGINX, install_controller=True))
    (release,) = _releases(pulumi_mocks)
    assert release.inputs["chart"] == "ingress-nginx"
    assert release.inputs["version"] == INGRESS_NGINX_VERSION and re.fullmatch(r"4\.\d+\.\d+", INGRESS_NGINX_VERSION)
    assert release.inputs["repositoryOpts"]["repo"].endswith("/ingress-nginx")
    values = release.inputs["values"]["controller"]
    assert values["ingressClassResource"]["name"] == pulumi_mocks.object("Ingress", "routing-dynamic")["spec"]["ingressClassName"]
    assert values["allowSnippetAnnotations"] is False
    assert not [o for o in pulumi_mocks.objects() if o["kind"] == "GatewayClass"]


@pytest.mark.parametrize(
    ("implementation", "source", "expected"),
    [
        (GATEWAY, "/var/lib/charts/gateway-helm", {"chart": "/var/lib/charts/gateway-helm"}),
        (GATEWAY, "oci://mirror.example.com/envoyproxy/gateway-helm", {"chart": "oci://mirror.example.com/envoyproxy/gateway-helm", "version": ENVOY_GATEWAY_VERSION}),
        (NGINX, "https://charts.example.com/ingress-nginx", {"chart": "ingress-nginx", "version": INGRESS_NGINX_VERSION, "repositoryOpts": {"repo": "https://charts.example.com/ingress-nginx"}}),
        (NGINX, "./charts/ingress-nginx-4.15.1.tgz", {"chart": "./charts/ingress-nginx-4.15.1.tgz"}),
    ],
)
def test_the_controller_chart_can_come_from_a_local_path_or_a_mirror(pulumi_mocks, implementation, source, expected):
    SessionRouting("routing", _args(implementation=implementation, install_controller=True, controller_chart=source))
    (release,) = _releases(pulumi_mocks)
    named = {k: release.inputs[k] for k in ("chart", "version", "repositoryOpts") if k in release.inputs}
    assert named == expected


# --- composition -------------------------------------------------------------------------------

@pytest.mark.parametrize("implementation", [GATEWAY, NGINX])
def test_two_instances_do_not_collide(pulumi_mocks, implementation):
    SessionRouting("routing", _args(implementation=implementation))
    SessionRouting("routing-b", _args(implementation=implementation))
    assert pulumi_mocks.run.duplicate_urns == []
    objects = pulumi_mocks.objects()
    assert k8s_checks.reference_errors(objects + _services()) == []
    keys = [k8s_checks.key(o) for o in objects]
    assert len(keys) == len(set(keys)) == 4


@pytest.mark.parametrize("implementation", [GATEWAY, NGINX])
def test_children_are_parented_and_named_after_the_component(pulumi_mocks, implementation):
    SessionRouting("edge", _args(implementation=implementation, install_controller=True))
    resources = pulumi_mocks.resources
    (component,) = [r for r in resources if r.type == "sessionstack:routing:SessionRouting"]
    children = [r for r in resources if r is not component]
    assert children and all(r.parent_urn == component.urn and r.name.startswith("edge-") for r in children)


def test_outputs_are_plain_and_service_inputs_may_be_outputs(pulumi_mocks):
    import pulumi

    SessionRouting("routing", _args(wildfly_service_name=pulumi.Output.from_input("was"), wildfly_service_port=pulumi.Output.from_input(8080)))
    rule = envoy_gateway_route(pulumi_mocks.object("HTTPRoute", "routing"), "/session-demo/")
    assert rule["backendRefs"] == [{"name": "was", "port": 8080}]


# --- validation --------------------------------------------------------------------------------

def test_gateway_duration():
    assert [gateway_duration(s) for s in (1, 59, 60, 3600, 3661, 5400, 604800)] == ["1s", "59s", "1m", "1h", "1h1m1s", "1h30m", "168h"]
    for s in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="seconds must be a positive integer"):
            gateway_duration(s)


@pytest.mark.parametrize("kwargs, message", [
    ({"implementation": "gateway-api"}, "SessionRoutingArgs.implementation must be one of 'gateway-api', 'ingress-nginx', got 'gateway-api'"),
    ({"cookie_name": "JSESSIONID"}, "SessionRoutingArgs.cookie_name must differ from the applications' session cookies (JSESSIONID, SESSION), got 'JSESSIONID'"),
    ({"cookie_name": "a b"}, "SessionRoutingArgs.cookie_name must be a cookie name of 1-64 token characters"),
    ({"cookie_max_age_seconds": 0}, "SessionRoutingArgs.cookie_max_age_seconds must be an integer from 1 to 604800 (7 days), got 0"),
    ({"host": ""}, "SessionRoutingArgs.host must be None (any host) or a DNS-1123 subdomain such as shop.example.com, got ''"),
    ({"host": "Shop.Example.com"}, "SessionRoutingArgs.host must be None (any host) or a DNS-1123 subdomain"),
    ({"host": "*.example.com"}, "got '*.example.com'"),
    ({"gateway_class_name": "EG"}, "SessionRoutingArgs.gateway_class_name must be a DNS-1123 subdomain, got 'EG'"),
    ({"ingress_class_name": ""}, "SessionRoutingArgs.ingress_class_name must be a DNS-1123 subdomain, got ''"),
    ({"install_controller": "yes"}, "SessionRoutingArgs.install_controller must be True or False, got 'yes'"),
    ({"controller_chart": "charts/gateway-helm"}, "SessionRoutingArgs.controller_chart must be None, or a non-empty chart path or oci:// / https:// address together with install_controller=True, got 'charts/gateway-helm' (install_controller=False)"),
    ({"install_controller": True, "controller_chart": ""}, "SessionRoutingArgs.controller_chart must be None, or a non-empty chart path"),
])
def test_bad_args_are_rejected_with_field_value_and_allowed(kwargs, message):
    with pytest.raises(ValueError) as err:
        _args(**kwargs)
    assert message in str(err.value)


def test_bad_component_name_is_rejected():
    with pytest.raises(ValueError, match="SessionRouting name must be a DNS-1123 label.*got 'Edge'"):
        SessionRouting("Edge", _args())


def test_router_peers_name_the_installed_controllers_namespace_and_nothing_when_not_installed():
    for implementation in RoutingImplementation:
        assert router_peers(implementation, install_controller=False) == ()
    assert router_peers(RoutingImplementation.GATEWAY_API, True) == (
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}}},
    )
    assert router_peers(RoutingImplementation.INGRESS_NGINX, True) == (
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
    )
