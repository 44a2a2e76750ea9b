"""SessionRouting: one entry point that sends static paths to Apache and the rest to WildFly, pinned.

Two implementations, chosen by ``RoutingImplementation``:

- ``gateway-api`` (default): a Gateway and one HTTPRoute. The static rule matches
  ``routing_rules.static_path_regex()`` (type RegularExpression: implementation-specific in the
  Gateway API; Envoy Gateway evaluates it as an RE2 full match and orders Exact > RegularExpression
  > PathPrefix, so it wins over the catch-all). The dynamic rule (``/``, PathPrefix) carries a
  rule-level ``sessionPersistence`` (GEP-1619): a Permanent cookie named after the affinity cookie
  whose lifetime is ``absoluteTimeout``. There is no ``idleTimeout``: Envoy Gateway rejects the
  whole rule when it is set. ``sessionPersistence`` is in the Gateway API experimental channel;
  Envoy Gateway's chart installs those CRDs, a standard-channel install would prune the field.
- ``ingress-nginx`` (clusters that still run it; the project is retired since March 2026): two
  networking.k8s.io/v1 Ingresses, because nginx annotations apply per Ingress and only the dynamic
  one may carry cookie affinity. ingress-nginx applies ``use-regex`` to every path of a host and
  renders them as case-insensitive ``location ~* "^<path>"`` blocks ordered longest first, so the
  static regex (without its ``^``) is tried before ``/``.

With ``install_controller`` (dev/kind only) the component also installs the controller through a
Helm release at a pinned version (and, for Envoy Gateway, the GatewayClass). A controller is
cluster-wide: set it on one SessionRouting per cluster.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from sessionstack import k8s_common
from sessionstack.routing_rules import DEFAULT_COOKIE_MAX_AGE_SECONDS, RoutingRules

class RoutingImplementation(str, enum.Enum):
    GATEWAY_API = "gateway-api"
    """Gateway + HTTPRoute with rule-level sessionPersistence (Envoy Gateway)."""
    INGRESS_NGINX = "ingress-nginx"
    """Ingress with nginx annotations, for clusters that still run ingress-nginx."""


GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
ENVOY_GATEWAY_CHART = "oci://docker.io/envoyproxy/gateway-helm"
ENVOY_GATEWAY_VERSION = "v1.10.0"
ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system"
ENVOY_GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
INGRESS_NGINX_CHART = "ingress-nginx"
INGRESS_NGINX_REPO = "https://kubernetes.github.io/ingress-nginx"
INGRESS_NGINX_VERSION = "4.15.1"
"""The last chart line before the retirement (controller v1.15.1); no further security fixes."""
INGRESS_NGINX_NAMESPACE = "ingress-nginx"
NGINX = "nginx.ingress.kubernetes.io/"

PLACEHOLDER_HOST = "sessionstack-gateway.invalid"
"""Without a host the address is only known once the controller has provisioned it; ``.invalid``
(RFC 2606) keeps the URL well-formed while never resolving. ``address_command`` prints the real one."""

_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_GATEWAY_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")


def gateway_duration(seconds: int) -> str:
    """Seconds as a Gateway API Duration (``3600`` -> ``1h``, ``5400`` -> ``1h30m``)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise ValueError(f"seconds must be a positive integer, got {seconds!r}")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    assert _GATEWAY_DURATION.match(text), text
    return text


def router_peers(implementation: RoutingImplementation, install_controller: bool) -> tuple[dict[str, Any], ...]:
    """NetworkPolicy peers for the pods the router sends to: the namespace of the controller this
    component installs (Envoy Gateway runs its proxies in its own namespace). A controller installed
    by someone else may live anywhere, so then: () (any pod in the cluster)."""
    if not install_controller:
        return ()
    namespace = ENVOY_GATEWAY_NAMESPACE if implementation is RoutingImplementation.GATEWAY_API else INGRESS_NGINX_NAMESPACE
    return ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},)


@dataclass(frozen=True)
class SessionRoutingArgs:
    namespace: pulumi.Input[str]
    """Namespace of the Gateway and HTTPRoute or of the Ingresses; both backend Services must be in it."""
    wildfly_service_name: pulumi.Input[str]
    """WildFly's Service (WildflyCluster.http_service_name): every non-static path, with cookie affinity."""
    wildfly_service_port: pulumi.Input[int]
    """Port number of the WildFly Service (WildflyCluster.http_port)."""
    apache_service_name: pulumi.Input[str]
    """Apache's Service (ApacheStaticTier.service_name): paths ending in a static file extension."""
    apache_service_port: pulumi.Input[int]
    """Port number of the Apache Service (ApacheStaticTier.service_port)."""
    cookie_name: str = "SESSIONSTACK_ROUTE"
    """Affinity cookie set by the router (never the application's JSESSIONID/SESSION)."""
    cookie_max_age_seconds: int = DEFAULT_COOKIE_MAX_AGE_SECONDS
    """Affinity cookie lifetime in seconds (1-604800, 7 days); an hour by default, like the ALB's lb_cookie."""
    host: str | None = None
    """Host name the routes answer for; None: any host."""
    implementation: RoutingImplementation = RoutingImplementation.GATEWAY_API
    """GATEWAY_API: a Gateway and an HTTPRoute (Envoy Gateway); INGRESS_NGINX: two Ingresses, for clusters
    that still run the retired ingress-nginx."""
    gateway_class_name: str = "eg"
    """GatewayClass of the Gateway (gateway-api); "eg" is Envoy Gateway's quickstart class."""
    ingress_class_name: str = "nginx"
    """IngressClass of the Ingresses (ingress-nginx)."""
    install_controller: bool = False
    """dev/kind only: install Envoy Gateway (+ GatewayClass) or ingress-nginx with Helm."""
    controller_chart: str | None = None
    """With install_controller: None for the upstream chart at the pinned version; a local chart
    directory or .tgz (a cluster behind a firewall); or the oci:// or https:// address of a mirror
    that serves the pinned version."""

    def __post_init__(self) -> None:
        if not isinstance(self.implementation, RoutingImplementation):
            allowed = ", ".join(repr(i.value) for i in RoutingImplementation)
            raise ValueError(f"SessionRoutingArgs.implementation must be one of {allowed}, got {self.implementation!r}")
        try:
            RoutingRules.for_cookie(self.cookie_name, self.cookie_max_age_seconds)
        except ValueError as exc:
            raise ValueError(f"SessionRoutingArgs.{str(exc).replace('session_cookie', 'cookie_name')}") from None
        if self.host is not None and (not isinstance(self.host, str) or not _DNS_SUBDOMAIN.match(self.host)):
            raise ValueError(f"SessionRoutingArgs.host must be None (any host) or a DNS-1123 subdomain such as shop.example.com, got {self.host!r}")
        for field_name in ("gateway_class_name", "ingress_class_name"):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not _DNS_SUBDOMAIN.match(value):
                raise ValueError(f"SessionRoutingArgs.{field_name} must be a DNS-1123 subdomain, got {value!r}")
        if not isinstance(self.install_controller, bool):
            raise ValueError(f"SessionRoutingArgs.install_controller must be True or False, got {self.install_controller!r}")
        if self.controller_chart is not None and (not isinstance(self.controller_chart, str) or not self.controller_chart or not self.install_controller):
            raise ValueError(
                "SessionRoutingArgs.controller_chart must be None, or a non-empty chart path or oci:// / https:// address "
                f"together with install_controller=True, got {self.controller_chart!r} (install_controller={self.install_controller!r})"
            )

    @property
    def rules(self) -> RoutingRules:
        return RoutingRules.for_cookie(self.cookie_name, self.cookie_max_age_seconds)


def chart_source(chart: str, version: str, override: str | None, repo: str | None = None) -> dict[str, Any]:
    """The Helm Release arguments that name a chart: upstream (``chart`` at ``version``, from
    ``repo`` if given), a mirror (``oci://`` or ``https://``: the same pinned version), or a local
    chart directory or archive (its own version)."""
    if override is None:
        out: dict[str, Any] = {"chart": chart, "version": version}
        if repo:
            out["repository_opts"] = k8s.helm.v3.RepositoryOptsArgs(repo=repo)
        return out
    if override.startswith("oci://"):
        return {"chart": override, "version": version}
    if override.startswith("https://"):
        return {"chart": chart.rsplit("/", 1)[-1], "version": version, "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=override)}
    return {"chart": override}


def httproute_rules(
    rules: RoutingRules,
    apache: tuple[pulumi.Input[str], pulumi.Input[int]],
    wildfly: tuple[pulumi.Input[str], pulumi.Input[int]],
) -> list[dict[str, Any]]:
    """The HTTPRoute rules: static regex -> Apache (no persistence), ``/`` -> WildFly (cookie)."""
    return [
        {
            "name": "static",
            "matches": [{"path": {"type": "RegularExpression", "value": rules.static_regex}}],
            "backendRefs": [{"name": apache[0], "port": apache[1]}],
        },
        {
            "name": "dynamic",
            "matches": [{"path": {"type": "PathPrefix", "value": rules.dynamic_prefix}}],
            "backendRefs": [{"name": wildfly[0], "port": wildfly[1]}],
            "sessionPersistence": {
                "type": "Cookie",
                "sessionName": rules.session_cookie,
                "absoluteTimeout": gateway_duration(rules.cookie_max_age_seconds),
                # Permanent: the cookie carries Max-Age, so it survives a browser restart for the
                # same time the nginx and ALB implementations keep theirs.
                "cookieConfig": {"lifetimeType": "Permanent"},
            },
        },
    ]


def affinity_annotations(rules: RoutingRules) -> dict[str, str]:
    """ingress-nginx annotations for the dynamic Ingress: a pinning cookie, re-pinned on failure."""
    age = str(rules.cookie_max_age_seconds)
    return {
        NGINX + "use-regex": "true",
        NGINX + "affinity": "cookie",
        # balanced: on scale-out some sessions move to new pods; they find their session in the
        # replicated cache or in Redis, so the new pods take load at once.
        NGINX + "affinity-mode": "balanced",
        NGINX + "session-cookie-name": rules.session_cookie,
        # Required with regex paths (nginx cannot derive a cookie path from a regex).
        NGINX + "session-cookie-path": "/",
        NGINX + "session-cookie-max-age": age,
        NGINX + "session-cookie-expires": age,
        NGINX + "session-cookie-samesite": "Lax",
        # When the pinned pod is gone, pick a new one and rewrite the cookie instead of keeping
        # a dead pin.
        NGINX + "session-cookie-change-on-failure": "true",
    }


class SessionRouting(pulumi.ComponentResource):
    url: pulumi.Output[str]
    """http://<host>, or a placeholder until the controller has an address (see address_command)."""
    demo_path: pulumi.Output[str]
    """Path of the session demo ('/session-demo/'), which every router sends to WildFly; append it to url."""
    route_names: pulumi.Output[list]
    """HTTPRoute name (gateway-api) or the static and dynamic Ingress names (ingress-nginx)."""
    gateway_name: pulumi.Output[str]
    """The Gateway's name ('' with ingress-nginx)."""
    address_command: pulumi.Output[str]
    """kubectl command that prints the address the controller assigned."""

    def __init__(self, name: str, args: SessionRoutingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        k8s_common.validate_component_name("SessionRouting", name)
        super().__init__("sessionstack:routing:SessionRouting", name, None, opts)
        router = _Router(self, name, args, k8s_common.standard_labels("routing", name, "router"))
        if args.implementation is RoutingImplementation.GATEWAY_API:
            route_names, gateway_name, address_command = router.gateway_api()
        else:
            route_names, gateway_name, address_command = router.ingress_nginx()

        self.url = pulumi.Output.from_input(f"http://{args.host or PLACEHOLDER_HOST}")
        self.demo_path = pulumi.Output.from_input(args.rules.demo_path)
        self.route_names = pulumi.Output.from_input(route_names)
        self.gateway_name = pulumi.Output.from_input(gateway_name)
        self.address_command = address_command
        self.register_outputs(
            {
                "url": self.url,
                "demo_path": self.demo_path,
                "route_names": self.route_names,
                "gateway_name": self.gateway_name,
                "address_command": self.address_command,
            }
        )


@dataclass(frozen=True)
class _Router:
    """The objects of one routing implementation, declared as children of the component."""

    parent: pulumi.Resource
    name: str
    args: SessionRoutingArgs
    labels: dict[str, str]

    def meta(self, object_name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": object_name, "namespace": self.args.namespace, "labels": self.labels}
        if annotations:
            out["annotations"] = annotations
        return out

    def opts(self, depends_on: list[pulumi.Resource]) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, depends_on=depends_on)

    def gateway_api(self) -> tuple[list[str], str, pulumi.Output[str]]:
        """Gateway + HTTPRoute (static paths to Apache, the rest to WildFly with cookie session
        persistence); with install_controller, Envoy Gateway's chart and its GatewayClass first."""
        name, args = self.name, self.args
        depends = self.envoy_gateway() if args.install_controller else []
        listener: dict[str, Any] = {
            "name": "http",
            "protocol": "HTTP",
            "port": 80,
            "allowedRoutes": {"namespaces": {"from": "Same"}, "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}]},
        }
        if args.host:
            listener["hostname"] = args.host
        gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version=GATEWAY_API_VERSION,
            kind="Gateway",
            metadata=self.meta(name),
            spec={"gatewayClassName": args.gateway_class_name, "listeners": [listener]},
            opts=self.opts(depends),
        )
        route_spec: dict[str, Any] = {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name, "sectionName": "http"}],
            "rules": httproute_rules(args.rules, (args.apache_service_name, args.apache_service_port), (args.wildfly_service_name, args.wildfly_service_port)),
        }
        if args.host:
            route_spec["hostnames"] = [args.host]
        k8s.apiextensions.CustomResource(
            f"{name}-httproute", api_version=GATEWAY_API_VERSION, kind="HTTPRoute", metadata=self.meta(name), spec=route_spec, opts=self.opts([gateway, *depends])
        )
        address = pulumi.Output.concat("kubectl -n ", args.namespace, " get gateway ", name, " -o jsonpath='{.status.addresses[0].value}'")
        return [name], name, address

    def envoy_gateway(self) -> list[pulumi.Resource]:
        release = self.controller_release(
            "envoy-gateway",
            chart_source(ENVOY_GATEWAY_CHART, ENVOY_GATEWAY_VERSION, self.args.controller_chart),
            ENVOY_GATEWAY_NAMESPACE,
            # The chart carries the Gateway API CRDs (experimental channel, which has
            # sessionPersistence) and Envoy Gateway's own.
            skip_crds=False,
        )
        gateway_class = k8s.apiextensions.CustomResource(
            f"{self.name}-gateway-class",
            api_version=GATEWAY_API_VERSION,
            kind="GatewayClass",
            metadata={"name": self.args.gateway_class_name, "labels": self.labels},
            spec={"controllerName": ENVOY_GATEWAY_CONTROLLER},
            opts=self.opts([release]),
        )
        return [release, gateway_class]

    def ingress_nginx(self) -> tuple[list[str], str, pulumi.Output[str]]:
        """Two Ingresses (ingress-nginx applies affinity per Ingress): static paths by regex to
        Apache; every other path to WildFly with the affinity cookie. With install_controller,
        the ingress-nginx chart first."""
        name, args = self.name, self.args
        depends = self.ingress_nginx_controller() if args.install_controller else []
        apache = (args.apache_service_name, args.apache_service_port)
        wildfly = (args.wildfly_service_name, args.wildfly_service_port)
        self.ingress("static", {NGINX + "use-regex": "true"}, args.rules.ingress_static_path, "ImplementationSpecific", apache, depends)
        self.ingress("dynamic", affinity_annotations(args.rules), args.rules.dynamic_prefix, "Prefix", wildfly, depends)
        address = pulumi.Output.concat("kubectl -n ", args.namespace, " get ingress ", name, "-dynamic -o jsonpath='{.status.loadBalancer.ingress[0]}'")
        return [f"{name}-static", f"{name}-dynamic"], "", address

    def ingress_nginx_controller(self) -> list[pulumi.Resource]:
        release = self.controller_release(
            "ingress-nginx",
            chart_source(INGRESS_NGINX_CHART, INGRESS_NGINX_VERSION, self.args.controller_chart, INGRESS_NGINX_REPO),
            INGRESS_NGINX_NAMESPACE,
            values={
                "controller": {
                    "ingressClass": self.args.ingress_class_name,
                    "ingressClassResource": {"name": self.args.ingress_class_name, "default": False},
                    # kind has no load balancer: reach the controller through node ports.
                    "service": {"type": "NodePort"},
                    "allowSnippetAnnotations": False,
                }
            },
        )
        return [release]

    def controller_release(self, release_name: str, chart: dict[str, Any], namespace: str, **options: Any) -> k8s.helm.v3.Release:
        """The routing controller's Helm release ``<name>-<release_name>``, in its own namespace."""
        return k8s.helm.v3.Release(
            f"{self.name}-{release_name}", **chart, name=release_name, namespace=namespace, create_namespace=True,
            opts=pulumi.ResourceOptions(parent=self.parent), **options
        )

    def ingress(self, suffix: str, annotations: dict[str, str], path: str, path_type: str, backend: tuple, depends: list[pulumi.Resource]) -> None:
        service = {"name": backend[0], "port": {"number": backend[1]}}
        rule: dict[str, Any] = {"http": {"paths": [{"path": path, "pathType": path_type, "backend": {"service": service}}]}}
        if self.args.host:
            rule["host"] = self.args.host
        k8s.networking.v1.Ingress(
            f"{self.name}-{suffix}",
            metadata=self.meta(f"{self.name}-{suffix}", annotations),
            spec={"ingressClassName": self.args.ingress_class_name, "rules": [rule]},
            opts=self.opts(depends),
        )
