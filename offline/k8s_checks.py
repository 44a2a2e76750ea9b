"""Checks on rendered Kubernetes objects: schema validity and cross-references.

Mocks accept anything and a render to YAML accepts anything, so every stack's objects are checked
here, whichever way they were produced: against the Kubernetes 1.33 OpenAPI schema (strict: an
unknown field is an error) and for the references a cluster would only catch at run time:
selectors that match no pod, Services whose target port no container exposes, ConfigMap / Secret /
ServiceAccount / Role names that resolve to nothing, ConfigMap items whose keys do not exist,
StatefulSets without their headless Service, routes to missing Services or ports, invalid port
names, duplicate objects, and workloads that no NetworkPolicy selects or whose policies admit
ports no container exposes.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable

KUBERNETES_VERSION = "1.33.0"

_WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "GatewayClass", "CustomResourceDefinition", "PersistentVolume", "StorageClass"}
# Custom resources are not in the core schema; they get the structural checks below instead.
_CUSTOM_KINDS = {
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "GatewayClass"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("elbv2.k8s.aws/v1beta1", "TargetGroupBinding"),
}
_PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name): what makes an object unique in a cluster."""
    meta = obj.get("metadata") or {}
    namespace = "" if obj.get("kind") in _CLUSTER_SCOPED else meta.get("namespace", "default")
    return obj.get("kind", ""), namespace, meta.get("name", "")


def schema_errors(objects: Iterable[dict[str, Any]]) -> list[str]:
    import kubernetes_validate

    errors = []
    for obj in objects:
        if (obj.get("apiVersion"), obj.get("kind")) in _CUSTOM_KINDS:
            errors += _custom_resource_errors(obj)
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.absolute_path)
            errors.append(f"{_label(obj)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{_label(obj)}: no {KUBERNETES_VERSION} schema for {obj.get('apiVersion')} {obj.get('kind')}")
    return errors


def _custom_resource_errors(obj: dict[str, Any]) -> list[str]:
    errors = []
    meta = obj.get("metadata") or {}
    if not meta.get("name"):
        errors.append(f"{_label(obj)}: metadata.name is missing")
    if not isinstance(obj.get("spec"), dict):
        errors.append(f"{_label(obj)}: spec is missing")
    return errors


def _label(obj: dict[str, Any]) -> str:
    kind, namespace, name = key(obj)
    return f"{kind} {namespace + '/' if namespace else ''}{name}"


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("kind") == "Pod":
        return obj.get("spec")
    if obj.get("kind") in _WORKLOAD_KINDS:
        return ((obj.get("spec") or {}).get("template") or {}).get("spec")
    return None


def _pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    if obj.get("kind") == "Pod":
        return (obj.get("metadata") or {}).get("labels") or {}
    return (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def _each_pod_labels(obj: dict[str, Any]) -> list[dict[str, str]]:
    """The labels each pod of ``obj`` will carry: a StatefulSet's controller adds
    statefulset.kubernetes.io/pod-name (``<name>-<ordinal>``) to each of its pods."""
    labels = _pod_labels(obj)
    if obj.get("kind") != "StatefulSet":
        return [labels]
    name, replicas = obj["metadata"]["name"], int((obj.get("spec") or {}).get("replicas", 1))
    return [{**labels, "statefulset.kubernetes.io/pod-name": f"{name}-{i}"} for i in range(replicas)]


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) or a plain Service selector map."""
    if not selector:
        return False
    match_labels = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if "matchLabels" not in selector and "matchExpressions" in selector:
        match_labels = {}
    if not all(labels.get(k) == v for k, v in match_labels.items()):
        return False
    for expr in selector.get("matchExpressions", []) or []:
        value, values = labels.get(expr["key"]), expr.get("values") or []
        operator = expr["operator"]
        if operator == "In" and value not in values:
            return False
        if operator == "NotIn" and value in values:
            return False
        if operator == "Exists" and expr["key"] not in labels:
            return False
        if operator == "DoesNotExist" and expr["key"] in labels:
            return False
    return True


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def reference_errors(objects: list[dict[str, Any]]) -> list[str]:
    errors: list[str] = []
    counts = Counter(key(o) for o in objects)
    errors += [f"duplicate object {k[0]} {k[1]}/{k[2]}" for k, n in counts.items() if n > 1]
    by_key = {key(o): o for o in objects}

    def find(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return by_key.get((kind, "" if kind in _CLUSTER_SCOPED else namespace, name))

    workloads = [o for o in objects if _pod_spec(o) is not None]

    for obj in objects:
        kind, namespace, name = key(obj)
        spec = obj.get("spec") or {}
        where = _label(obj)

        if kind in _WORKLOAD_KINDS and kind != "Job":
            selector = spec.get("selector")
            if not _matches(selector, _pod_labels(obj)):
                errors.append(f"{where}: spec.selector {selector} does not match its pod template labels")
        if kind == "StatefulSet":
            svc = find("Service", namespace, spec.get("serviceName", ""))
            if svc is None:
                errors.append(f"{where}: serviceName {spec.get('serviceName')!r} names no Service")
            elif (svc.get("spec") or {}).get("clusterIP") != "None":
                errors.append(f"{where}: serviceName {spec.get('serviceName')!r} is not a headless Service")

        pod_spec = _pod_spec(obj)
        if pod_spec is not None:
            errors += _pod_reference_errors(where, namespace, pod_spec, find, obj)

        if kind == "Service":
            selector = spec.get("selector")
            if selector:
                targets = [w for w in workloads if key(w)[1] == namespace and any(_matches(selector, labels) for labels in _each_pod_labels(w))]
                if not targets:
                    errors.append(f"{where}: selector {selector} matches no pod template")
                for port in spec.get("ports") or []:
                    if not any(_exposes(w, port.get("targetPort", port.get("port"))) for w in targets):
                        errors.append(f"{where}: port {port.get('name', port.get('port'))} targets {port.get('targetPort', port.get('port'))!r}, which no selected container exposes")
            errors += _port_and_name_errors(where, [p.get("name") for p in spec.get("ports") or [] if p.get("name")])

        if kind in ("PodDisruptionBudget", "NetworkPolicy"):
            selector = spec.get("selector") if kind == "PodDisruptionBudget" else spec.get("podSelector")
            if not any(key(w)[1] == namespace and _matches(selector, _pod_labels(w)) for w in workloads):
                errors.append(f"{where}: selector {selector} matches no pod template")
        if kind in _WORKLOAD_KINDS and kind != "Job" and pod_spec is not None:
            policies = [p for p in objects if p.get("kind") == "NetworkPolicy" and key(p)[1] == namespace
                        and _matches((p.get("spec") or {}).get("podSelector"), _pod_labels(obj))]
            if not policies:
                errors.append(f"{where}: no NetworkPolicy selects its pods (every workload says who may reach it)")
        if kind == "NetworkPolicy":
            selected = [w for w in workloads if key(w)[1] == namespace and _matches(spec.get("podSelector"), _pod_labels(w))]
            for rule in spec.get("ingress") or []:
                for port in rule.get("ports") or []:
                    if selected and not any(_exposes(w, port.get("port")) for w in selected):
                        errors.append(f"{where}: ingress port {port.get('port')!r} is exposed by no selected container")
                for peer in rule.get("from") or []:
                    if "podSelector" in peer and "namespaceSelector" not in peer and peer["podSelector"]:
                        if not any(key(w)[1] == namespace and _matches(peer["podSelector"], _pod_labels(w)) for w in workloads):
                            errors.append(f"{where}: ingress peer {peer['podSelector']} matches no pod template")

        if kind == "HorizontalPodAutoscaler":
            ref = spec.get("scaleTargetRef") or {}
            if find(ref.get("kind", ""), namespace, ref.get("name", "")) is None:
                errors.append(f"{where}: scaleTargetRef {ref.get('kind')}/{ref.get('name')} does not exist")

        if kind in ("RoleBinding", "ClusterRoleBinding"):
            role = obj.get("roleRef") or {}
            if find(role.get("kind", ""), namespace, role.get("name", "")) is None:
                errors.append(f"{where}: roleRef {role.get('kind')}/{role.get('name')} does not exist")
            for subject in obj.get("subjects") or []:
                if subject.get("kind") == "ServiceAccount":
                    sa_ns = subject.get("namespace", namespace)
                    if find("ServiceAccount", sa_ns, subject.get("name", "")) is None:
                        errors.append(f"{where}: subject ServiceAccount {sa_ns}/{subject.get('name')} does not exist")

        if kind == "Ingress":
            for rule in spec.get("rules") or []:
                for path in ((rule.get("http") or {}).get("paths")) or []:
                    backend = (path.get("backend") or {}).get("service") or {}
                    errors += _service_port_errors(where, find, namespace, backend.get("name", ""), (backend.get("port") or {}).get("number") or (backend.get("port") or {}).get("name"))

        if kind == "HTTPRoute":
            for parent in spec.get("parentRefs") or []:
                if find(parent.get("kind", "Gateway"), parent.get("namespace", namespace), parent.get("name", "")) is None:
                    errors.append(f"{where}: parentRef {parent.get('name')!r} names no Gateway")
            for rule in spec.get("rules") or []:
                for backend in rule.get("backendRefs") or []:
                    errors += _service_port_errors(where, find, backend.get("namespace", namespace), backend.get("name", ""), backend.get("port"))

        if kind == "Gateway":
            class_name = spec.get("gatewayClassName")
            if not class_name:
                errors.append(f"{where}: gatewayClassName is missing")

        if kind == "TargetGroupBinding":
            ref = spec.get("serviceRef") or {}
            errors += _service_port_errors(where, find, namespace, ref.get("name", ""), ref.get("port"))
            if spec.get("targetType") not in ("ip", "instance"):
                errors.append(f"{where}: targetType must be ip or instance, got {spec.get('targetType')!r}")
    return errors


def _service_port_errors(where: str, find, namespace: str, name: str, port: Any) -> list[str]:
    svc = find("Service", namespace, name)
    if svc is None:
        return [f"{where}: backend Service {namespace}/{name} does not exist"]
    ports = (svc.get("spec") or {}).get("ports") or []
    if port is not None and not any(port in (p.get("port"), p.get("name")) for p in ports):
        return [f"{where}: backend Service {name} has no port {port!r}"]
    return []


def _exposes(workload: dict[str, Any], target: Any) -> bool:
    spec = _pod_spec(workload) or {}
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            if target in (port.get("name"), port.get("containerPort")):
                return True
    return False


def _port_and_name_errors(where: str, names: list[str]) -> list[str]:
    return [f"{where}: port name {n!r} is not a valid IANA service name (1-15 lower-case alphanumerics or '-', with a letter)" for n in names if not _PORT_NAME.match(n) or "--" in n]


def _pod_reference_errors(where, namespace, spec, find, obj) -> list[str]:
    errors: list[str] = []
    sa = spec.get("serviceAccountName")
    if sa and sa != "default" and find("ServiceAccount", namespace, sa) is None:
        errors.append(f"{where}: serviceAccountName {sa!r} does not exist")
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    claim_names = {((t.get("metadata") or {}).get("name")) for t in ((obj.get("spec") or {}).get("volumeClaimTemplates") or [])}
    for volume in volumes.values():
        if "configMap" in volume:
            errors += _items_errors(where, find("ConfigMap", namespace, volume["configMap"].get("name", "")), "ConfigMap", volume["configMap"], volume["configMap"].get("name"))
        if "secret" in volume:
            errors += _items_errors(where, find("Secret", namespace, volume["secret"].get("secretName", "")), "Secret", volume["secret"], volume["secret"].get("secretName"))
        for source in ((volume.get("projected") or {}).get("sources")) or []:
            if "configMap" in source:
                errors += _items_errors(where, find("ConfigMap", namespace, source["configMap"].get("name", "")), "ConfigMap", source["configMap"], source["configMap"].get("name"))
            if "secret" in source:
                errors += _items_errors(where, find("Secret", namespace, source["secret"].get("name", "")), "Secret", source["secret"], source["secret"].get("name"))
    for container in _containers(spec):
        cwhere = f"{where} container {container.get('name')}"
        errors += _port_and_name_errors(cwhere, [p.get("name") for p in container.get("ports") or [] if p.get("name")])
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") not in volumes and mount.get("name") not in claim_names:
                errors.append(f"{cwhere}: volumeMount {mount.get('name')!r} names no volume")
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for ref_kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                ref = source.get(field)
                if ref and not ref.get("optional"):
                    target = find(ref_kind, namespace, ref.get("name", ""))
                    if target is None:
                        errors.append(f"{cwhere}: env {env.get('name')} refers to missing {ref_kind} {ref.get('name')!r}")
                    elif not _has_key(target, ref.get("key")):
                        errors.append(f"{cwhere}: env {env.get('name')} refers to missing key {ref.get('key')!r} of {ref_kind} {ref.get('name')!r}")
        for env_from in container.get("envFrom") or []:
            for ref_kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                ref = env_from.get(field)
                if ref and not ref.get("optional") and find(ref_kind, namespace, ref.get("name", "")) is None:
                    errors.append(f"{cwhere}: envFrom refers to missing {ref_kind} {ref.get('name')!r}")
        for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
            port = (((container.get(probe_name) or {}).get("httpGet")) or {}).get("port")
            if isinstance(port, str) and port not in {p.get("name") for p in container.get("ports") or []}:
                errors.append(f"{cwhere}: {probe_name} port {port!r} is not a named container port")
    return errors


def _has_key(obj: dict[str, Any], wanted: str | None) -> bool:
    keys = set((obj.get("data") or {}).keys()) | set((obj.get("stringData") or {}).keys()) | set((obj.get("binaryData") or {}).keys())
    return wanted in keys


def _items_errors(where, target, kind, volume_source, name) -> list[str]:
    if target is None:
        if volume_source.get("optional"):
            return []
        return [f"{where}: volume refers to missing {kind} {name!r}"]
    return [
        f"{where}: volume item key {item.get('key')!r} is not in {kind} {name!r}"
        for item in volume_source.get("items") or []
        if not _has_key(target, item.get("key"))
    ]


def all_errors(objects: list[dict[str, Any]]) -> list[str]:
    return schema_errors(objects) + reference_errors(objects)
