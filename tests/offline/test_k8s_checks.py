"""The checker that every stack's objects pass must also catch what it claims to catch."""

from __future__ import annotations

import copy

import pytest

from offline import k8s_checks

LABELS = {"app": "web"}


def _objects():
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf", "namespace": "ns"}, "data": {"a.txt": "x"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "auth", "namespace": "ns"}, "stringData": {"password": "p"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "ns"}},
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {
                "serviceName": "web-headless",
                "selector": {"matchLabels": LABELS},
                "template": {
                    "metadata": {"labels": dict(LABELS)},
                    "spec": {
                        "serviceAccountName": "sa",
                        "containers": [
                            {
                                "name": "c",
                                "image": "example/web:1.0",
                                "ports": [{"name": "http", "containerPort": 8080}],
                                "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "auth", "key": "password"}}}],
                                "volumeMounts": [{"name": "conf", "mountPath": "/conf"}],
                                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                            }
                        ],
                        "volumes": [{"name": "conf", "configMap": {"name": "conf", "items": [{"key": "a.txt", "path": "a.txt"}]}}],
                    },
                },
            },
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-headless", "namespace": "ns"}, "spec": {"clusterIP": "None", "selector": dict(LABELS), "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "web", "namespace": "ns"},
         "spec": {"podSelector": {"matchLabels": dict(LABELS)}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": "http", "protocol": "TCP"}]}]}},
    ]


def _find(objects, kind):
    return next(o for o in objects if o["kind"] == kind)


def test_a_consistent_set_passes():
    assert k8s_checks.all_errors(_objects()) == []


def _broken(mutate):
    objects = copy.deepcopy(_objects())
    mutate(objects)
    return k8s_checks.all_errors(objects)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda o: _find(o, "StatefulSet")["spec"].update(selector={"matchLabels": {"app": "other"}}), "does not match its pod template labels"),
        (lambda o: _find(o, "Service")["spec"].update(clusterIP="10.0.0.1"), "is not a headless Service"),
        (lambda o: _find(o, "Service")["spec"].update(selector={"app": "nothing"}), "matches no pod template"),
        (lambda o: _find(o, "Service")["spec"]["ports"][0].update(targetPort="web"), "which no selected container exposes"),
        (lambda o: _find(o, "ConfigMap")["metadata"].update(name="renamed"), "volume refers to missing ConfigMap 'conf'"),
        (lambda o: _find(o, "ConfigMap").update(data={"b.txt": "y"}), "volume item key 'a.txt' is not in ConfigMap 'conf'"),
        (lambda o: _find(o, "Secret").update(stringData={"token": "t"}), "refers to missing key 'password' of Secret 'auth'"),
        (lambda o: _find(o, "ServiceAccount")["metadata"].update(name="other"), "serviceAccountName 'sa' does not exist"),
        (lambda o: _find(o, "Service")["spec"]["ports"][0].update(name="HTTP_Port"), "is not a valid IANA service name"),
        (lambda o: o.append(copy.deepcopy(_find(o, "ConfigMap"))), "duplicate object ConfigMap ns/conf"),
        (lambda o: _find(o, "StatefulSet")["spec"]["template"]["spec"]["containers"][0].update(ports=[{"containerPort": "eighty"}]), "eighty"),
        (lambda o: _find(o, "StatefulSet")["spec"].update(replica=2), "replica"),
        (lambda o: o.remove(_find(o, "NetworkPolicy")), "no NetworkPolicy selects its pods"),
        (lambda o: _find(o, "NetworkPolicy")["spec"].update(podSelector={"matchLabels": {"app": "db"}}), "no NetworkPolicy selects its pods"),
        (lambda o: _find(o, "NetworkPolicy")["spec"]["ingress"][0]["ports"][0].update(port="https"), "ingress port 'https' is exposed by no selected container"),
    ],
)
def test_each_broken_reference_is_reported(mutate, expected):
    errors = _broken(mutate)
    assert any(expected in e for e in errors), errors
