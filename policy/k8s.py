"""A read-only model of the Kubernetes and AWS objects a Pulumi program declares.

Policies receive Pulumi resources: a type token (``kubernetes:apps/v1:Deployment``,
``kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding`` for a CustomResource,
``aws:lb/targetGroup:TargetGroup``) and camelCase wire-form properties. This module turns them
into small objects (workloads, containers, Services, ...) and answers the questions the rules
share: which pods does this Service select, which image is this, what does this container run
with, which ConfigMaps does it mount. It never creates anything and has no Pulumi dependency
besides the property helpers.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from policy.props import UNKNOWN, as_dict, as_int, as_list, as_str, dig, plain

_K8S_TYPE = re.compile(r"^kubernetes:(?P<gv>[^:]+):(?P<kind>[A-Za-z0-9]+)$")

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"})
CLUSTER_SCOPED_KINDS = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "GatewayClass", "CustomResourceDefinition", "PersistentVolume", "StorageClass"}
)
AWS_TARGET_GROUP_TYPES = frozenset({"aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup"})
ELASTICACHE_REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"

SESSION_HOLDING_LABEL = "sessionstack.io/session-holding"
"""Label (value "true"/"false") that marks a workload as holding HTTP sessions, or opts it out."""
SESSION_STRATEGY_ANNOTATION = "sessionstack.io/session-strategy"
"""Annotation naming how sessions survive a pod: replicated | external-store | affinity-only | in-memory."""
SESSION_STRATEGIES = ("replicated", "external-store", "affinity-only", "in-memory")


def k8s_kind(type_token: str) -> tuple[str, str] | None:
    """(groupVersion, kind) of a Kubernetes resource type token; None for anything else.

    Patch resources (``DeploymentPatch``) and lists only amend or group objects declared
    elsewhere, so they are not treated as objects.
    """
    match = _K8S_TYPE.match(type_token or "")
    if not match:
        return None
    kind = match.group("kind")
    if kind.endswith("Patch") or kind.endswith("List"):
        return None
    return match.group("gv"), kind


@dataclass(frozen=True)
class Resource:
    """One Pulumi resource as a policy sees it: plain properties, unknowns as UNKNOWN."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @staticmethod
    def from_args(args: Any) -> "Resource":
        """From a ``ResourceValidationArgs``."""
        parent = getattr(getattr(args, "opts", None), "parent", None)
        return Resource(args.resource_type, args.name, args.urn, plain(args.props), parent or None)

    @staticmethod
    def from_policy_resource(res: Any) -> "Resource":
        """From a ``PolicyResource`` of a ``StackValidationArgs``."""
        parent = getattr(res, "parent", None)
        deps = tuple(d.urn for d in (getattr(res, "dependencies", None) or []))
        prop_deps = {k: tuple(d.urn for d in v) for k, v in (getattr(res, "property_dependencies", None) or {}).items()}
        return Resource(res.resource_type, res.name, res.urn, plain(res.props), parent.urn if parent else None, deps, prop_deps)

    def depends_on(self, urn: str) -> bool:
        return urn in self.dependencies or any(urn in urns for urns in self.property_dependencies.values())


# --------------------------------------------------------------------------------------------
# Kubernetes objects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class K8sObject:
    res: Resource
    group_version: str
    kind: str

    @property
    def props(self) -> dict[str, Any]:
        return self.res.props

    @property
    def urn(self) -> str:
        return self.res.urn

    @property
    def metadata(self) -> dict[str, Any]:
        return as_dict(self.props.get("metadata"))

    @property
    def name(self) -> Any:
        """metadata.name; the Pulumi resource name when the program leaves naming to Pulumi."""
        name = self.metadata.get("name")
        return name if name is not None else self.res.name

    @property
    def namespace(self) -> Any:
        if self.kind in CLUSTER_SCOPED_KINDS:
            return ""
        namespace = self.metadata.get("namespace")
        return "default" if namespace in (None, "") else namespace

    @property
    def labels(self) -> dict[str, Any]:
        return as_dict(self.metadata.get("labels"))

    @property
    def annotations(self) -> dict[str, Any]:
        return as_dict(self.metadata.get("annotations"))

    @property
    def spec(self) -> dict[str, Any]:
        return as_dict(self.props.get("spec"))

    def describe(self) -> str:
        ns = self.namespace
        where = f"{ns}/" if isinstance(ns, str) and ns else ""
        return f"{self.kind} {where}{_text(self.name)}"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def same_namespace(a: Any, b: Any) -> bool:
    """Namespaces match; an unknown namespace matches anything (it is decided at update time)."""
    return a is UNKNOWN or b is UNKNOWN or a == b


def same_name(a: Any, b: Any) -> bool:
    return a is UNKNOWN or b is UNKNOWN or (isinstance(a, str) and a == b)


@dataclass(frozen=True)
class Container:
    spec: dict[str, Any]
    init: bool = False

    @property
    def name(self) -> str:
        return as_str(self.spec.get("name")) or "?"

    @property
    def image(self) -> Any:
        return self.spec.get("image")

    @property
    def env(self) -> list[dict[str, Any]]:
        return [e for e in as_list(self.spec.get("env")) if isinstance(e, dict)]

    def env_entry(self, name: str) -> dict[str, Any] | None:
        """The last env entry named ``name`` (the kubelet lets later entries win)."""
        found = None
        for entry in self.env:
            if entry.get("name") == name:
                found = entry
        return found

    def env_value(self, name: str) -> Any:
        entry = self.env_entry(name)
        return None if entry is None else entry.get("value")

    @property
    def command_line(self) -> list[Any]:
        return as_list(self.spec.get("command")) + as_list(self.spec.get("args"))

    def command_text(self, extra_env: Iterable[str] = ()) -> str:
        """command + args (and the values of the env vars named in ``extra_env``) as one line.

        Exec-form arguments and shell scripts (``bash -c '...'``) end up in the same text, so
        options are found whichever way the container passes them.
        """
        parts = [v for v in (self.env_value(n) for n in extra_env) if isinstance(v, str)]
        parts += [a for a in self.command_line if isinstance(a, str)]
        return " ".join(parts)

    @property
    def command_unknown(self) -> bool:
        """Part of command/args/env is not known yet (preview): options cannot be judged."""
        for key in ("command", "args", "env"):
            value = self.spec.get(key)
            if value is UNKNOWN or (isinstance(value, list) and any(v is UNKNOWN for v in value)):
                return True
        return False

    @property
    def runs_shell(self) -> bool:
        words = [a for a in self.command_line if isinstance(a, str)]
        return bool(words) and words[0].rsplit("/", 1)[-1] in {"sh", "bash", "dash", "ash", "zsh"} and "-c" in words[1:3]

    @property
    def volume_mounts(self) -> list[dict[str, Any]]:
        return [m for m in as_list(self.spec.get("volumeMounts")) if isinstance(m, dict)]

    def has_probe(self, kind: str) -> bool:
        return isinstance(self.spec.get(kind), dict) and bool(self.spec.get(kind))


@dataclass(frozen=True)
class Workload(K8sObject):
    @property
    def pod_template(self) -> dict[str, Any]:
        if self.kind == "Pod":
            return {"metadata": self.metadata, "spec": self.spec}
        if self.kind == "CronJob":
            return as_dict(dig(self.spec, "jobTemplate", "spec", "template"))
        return as_dict(self.spec.get("template"))

    @property
    def pod_metadata(self) -> dict[str, Any]:
        return as_dict(self.pod_template.get("metadata"))

    @property
    def pod_labels(self) -> dict[str, Any]:
        return as_dict(self.pod_metadata.get("labels"))

    @property
    def pod_annotations(self) -> dict[str, Any]:
        return as_dict(self.pod_metadata.get("annotations"))

    @property
    def pod_spec(self) -> dict[str, Any]:
        return as_dict(self.pod_template.get("spec"))

    def containers(self, include_init: bool = False) -> list[Container]:
        main = [Container(c) for c in as_list(self.pod_spec.get("containers")) if isinstance(c, dict)]
        if not include_init:
            return main
        init = [Container(c, init=True) for c in as_list(self.pod_spec.get("initContainers")) if isinstance(c, dict)]
        return init + main

    @property
    def replicas(self) -> Any:
        """Desired pods: an int, UNKNOWN, or None for a DaemonSet (one per node)."""
        if self.kind == "DaemonSet":
            return None
        if self.kind == "Pod":
            return 1
        if self.kind in ("Job", "CronJob"):
            spec = self.spec if self.kind == "Job" else as_dict(dig(self.spec, "jobTemplate", "spec"))
            value = spec.get("parallelism", 1)
        else:
            value = self.spec.get("replicas", 1)
        if value is UNKNOWN:
            return UNKNOWN
        number = as_int(value)
        return 1 if number is None else number

    def label_or_annotation(self, key: str) -> Any:
        """A marker set on the pod template (preferred) or on the workload itself."""
        for source in (self.pod_labels, self.pod_annotations, self.labels, self.annotations):
            if key in source:
                return source[key]
        return None

    def volume(self, name: str) -> dict[str, Any] | None:
        for volume in as_list(self.pod_spec.get("volumes")):
            if isinstance(volume, dict) and volume.get("name") == name:
                return volume
        return None

    def mounted_volumes(self, container: Container) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(volumeMount, volume) pairs of ``container``."""
        pairs = []
        for mount in container.volume_mounts:
            volume = self.volume(mount.get("name"))
            if volume is not None:
                pairs.append((mount, volume))
        return pairs


@dataclass(frozen=True)
class Service(K8sObject):
    @property
    def selector(self) -> dict[str, Any]:
        return as_dict(self.spec.get("selector"))

    @property
    def type(self) -> str:
        return as_str(self.spec.get("type")) or "ClusterIP"

    @property
    def headless(self) -> bool:
        return self.spec.get("clusterIP") == "None"

    @property
    def ports(self) -> list[dict[str, Any]]:
        return [p for p in as_list(self.spec.get("ports")) if isinstance(p, dict)]

    def selects(self, workload: Workload) -> bool:
        """Whether this Service's selector picks the workload's pods (same namespace)."""
        selector = self.selector
        if self.spec.get("selector") is UNKNOWN:
            return same_namespace(self.namespace, workload.namespace)
        if not selector or not same_namespace(self.namespace, workload.namespace):
            return False
        return labels_match(selector, workload.pod_labels)


def labels_match(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    """Equality-based selector (Service.spec.selector, matchLabels)."""
    for key, value in selector.items():
        if value is UNKNOWN:
            continue
        if labels.get(key) is UNKNOWN:
            continue
        if labels.get(key) != value:
            return False
    return True


def label_selector_matches(selector: Any, labels: dict[str, Any]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions). An empty selector matches all."""
    if selector is UNKNOWN:
        return True
    selector = as_dict(selector)
    if not labels_match(as_dict(selector.get("matchLabels")), labels):
        return False
    for expr in as_list(selector.get("matchExpressions")):
        if not isinstance(expr, dict):
            continue
        key, operator, values = expr.get("key"), expr.get("operator"), as_list(expr.get("values"))
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRef:
    repository: str
    """Registry + path, lower-cased, without tag or digest."""
    tag: str
    digest: str

    @property
    def last_component(self) -> str:
        return self.repository.rsplit("/", 1)[-1]


def parse_image(image: str) -> ImageRef:
    """Split ``registry:port/path/name:tag@sha256:...``; a ':' before the last '/' is a port."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        repository, tag = name[:colon], name[colon + 1 :]
    else:
        repository, tag = name, ""
    return ImageRef(repository.lower(), tag, digest)


_WILDFLY_IMAGE = re.compile(r"wildfly|jboss-eap|(^|/)eap\d|(^|/)jboss/")
_APACHE_IMAGE = re.compile(r"(^|/)(httpd|apache2?|apache-httpd)(-[a-z0-9]+)?$")
_REDIS_IMAGE = re.compile(r"(^|/)(redis|valkey|keydb)(-stack(-server)?|-cluster)?$")
_NOT_REDIS_SERVER = re.compile(r"exporter|sentinel|insight|commander")


def image_of(container: Container) -> ImageRef | None:
    image = container.image
    return parse_image(image) if isinstance(image, str) and image else None


def is_wildfly(container: Container) -> bool:
    ref = image_of(container)
    return ref is not None and bool(_WILDFLY_IMAGE.search(ref.repository))


def is_apache(container: Container) -> bool:
    ref = image_of(container)
    return ref is not None and bool(_APACHE_IMAGE.search(ref.repository))


def is_redis(container: Container) -> bool:
    ref = image_of(container)
    if ref is None or _NOT_REDIS_SERVER.search(ref.repository):
        return False
    return bool(_REDIS_IMAGE.search(ref.repository))


# --------------------------------------------------------------------------------------------
# Command lines
# --------------------------------------------------------------------------------------------

_VALUE = r"(\"[^\"]*\"|'[^']*'|\$\([^)]*\)\S*|\$\{[^}]*\}\S*|[^\s\"';]+)"


def option_values(text: str, *names: str) -> list[str]:
    """Values of ``--opt=value`` / ``--opt value`` options in a command line, in order."""
    alternatives = "|".join(re.escape(n) for n in names)
    pattern = re.compile(rf"(?:^|[\s\"'])(?:{alternatives})(?:=|\s+){_VALUE}")
    values = []
    for match in pattern.finditer(text):
        value = match.group(1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values.append(value)
    return values


def words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


# --------------------------------------------------------------------------------------------
# The stack as a whole
# --------------------------------------------------------------------------------------------


class StackView:
    """Every resource of a stack, indexed for the cross-resource questions the rules ask."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources = list(resources)
        self.by_urn = {r.urn: r for r in self.resources}
        self.objects: list[K8sObject] = []
        for res in self.resources:
            gv_kind = k8s_kind(res.type)
            if gv_kind is None:
                continue
            gv, kind = gv_kind
            cls = Workload if kind in WORKLOAD_KINDS else Service if kind == "Service" else K8sObject
            self.objects.append(cls(res, gv, kind))

    def of_kind(self, *kinds: str) -> list[K8sObject]:
        return [o for o in self.objects if o.kind in kinds]

    @property
    def workloads(self) -> list[Workload]:
        return [o for o in self.objects if isinstance(o, Workload)]

    @property
    def services(self) -> list[Service]:
        return [o for o in self.objects if isinstance(o, Service)]

    def find(self, kind: str, namespace: Any, name: Any) -> list[K8sObject]:
        return [
            o
            for o in self.objects
            if o.kind == kind and same_namespace(o.namespace, namespace) and same_name(o.name, name)
        ]

    def aws(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def services_selecting(self, workload: Workload) -> list[Service]:
        return [s for s in self.services if s.selects(workload)]

    def hpas_for(self, workload: Workload) -> list[K8sObject]:
        found = []
        for hpa in self.of_kind("HorizontalPodAutoscaler"):
            ref = as_dict(hpa.spec.get("scaleTargetRef"))
            if ref.get("kind") in (workload.kind, UNKNOWN) and same_name(ref.get("name"), workload.name) and same_namespace(
                hpa.namespace, workload.namespace
            ):
                found.append(hpa)
        return found

    def pdbs_for(self, workload: Workload) -> list[K8sObject]:
        return [
            pdb
            for pdb in self.of_kind("PodDisruptionBudget")
            if same_namespace(pdb.namespace, workload.namespace)
            and pdb.spec.get("selector") is not None
            and label_selector_matches(pdb.spec.get("selector"), workload.pod_labels)
        ]

    def configmap_data(self, namespace: Any, name: Any) -> dict[str, Any] | None:
        """data of the named ConfigMap when this stack declares it."""
        for cm in self.find("ConfigMap", namespace, name):
            return {**as_dict(cm.props.get("data")), **as_dict(cm.props.get("binaryData"))}
        return None

    def secret_data(self, namespace: Any, name: Any) -> dict[str, Any] | None:
        """stringData + data (still base64) of the named Secret when this stack declares it."""
        for secret in self.find("Secret", namespace, name):
            return {**as_dict(secret.props.get("data")), **as_dict(secret.props.get("stringData"))}
        return None

    def mounted_files(self, workload: Workload, container: Container) -> Iterator[tuple[str, str, str, Any]]:
        """(source kind, source name, path in container, content) of ConfigMap/Secret files.

        Only files whose ConfigMap or Secret this stack declares are listed; ``items`` and
        ``subPath`` mounts are followed.
        """
        for mount, volume in workload.mounted_volumes(container):
            mount_path = as_str(mount.get("mountPath")) or ""
            sub_path = as_str(mount.get("subPath"))
            for source_kind, key, name_key in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
                source = volume.get(key)
                if not isinstance(source, dict):
                    continue
                name = source.get(name_key)
                data = (
                    self.configmap_data(workload.namespace, name)
                    if source_kind == "ConfigMap"
                    else self.secret_data(workload.namespace, name)
                )
                if data is None:
                    continue
                items = {i.get("key"): i.get("path") for i in as_list(source.get("items")) if isinstance(i, dict)}
                for data_key, content in data.items():
                    if items and data_key not in items:
                        continue
                    rel = items.get(data_key) or data_key
                    if sub_path is not None:
                        if rel != sub_path:
                            continue
                        path = mount_path
                    else:
                        path = f"{mount_path.rstrip('/')}/{rel}"
                    yield source_kind, _text(name), path, content

    def secret_mount_paths(self, workload: Workload, container: Container) -> list[str]:
        """Mount paths of Secret volumes (and projected volumes with Secret sources)."""
        paths = []
        for mount, volume in workload.mounted_volumes(container):
            projected = as_list(dig(volume, "projected", "sources"))
            if isinstance(volume.get("secret"), dict) or any(isinstance(s, dict) and "secret" in s for s in projected):
                paths.append(as_str(mount.get("mountPath")) or "")
        return [p for p in paths if p]
