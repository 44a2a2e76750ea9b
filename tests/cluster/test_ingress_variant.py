"""The ingress-nginx variant of the cluster stack, as the program declares it, on the real API server.

No ingress controller can run here (ingress-nginx is retired and its nginx is not buildable from
the registries), and pulumi awaits an Ingress until a controller publishes its address, so this
variant is not deployed with `pulumi up`. What the real API server can judge without a controller
it judges here: every object the program declares for the variant passes a server-side dry run
(schema, defaulting, admission), and the two Ingresses, created for real, come back unchanged.
"""

from __future__ import annotations

import json

from kube import Cluster
from offline import mockrun

NAMESPACE = "ingress-variant"


def test_the_ingress_variant_passes_the_api_server(cluster: Cluster):
    run = mockrun.run_stack("cluster", overrides={
        "namespace": NAMESPACE, "routing.implementation": "ingress-nginx", "routing.installController": "false", "routing.controllerChart": "",
    })
    objects = json.loads(json.dumps(run.kubernetes_objects()))
    namespace = [o for o in objects if o["kind"] == "Namespace"]
    rest = [o for o in objects if o["kind"] != "Namespace"]
    ingresses = [o for o in rest if o["kind"] == "Ingress"]
    assert len(ingresses) == 2
    cluster.apply(namespace)
    try:
        dry = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rest}), check=False)
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.count("(server dry run)") == len(rest), dry.stdout
        cluster.apply(ingresses)
        for declared in ingresses:
            stored = cluster.get("ingress", "-n", NAMESPACE, declared["metadata"]["name"])
            assert stored["spec"] == declared["spec"]
            for key, value in declared["metadata"]["annotations"].items():
                assert stored["metadata"]["annotations"].get(key) == value, key
    finally:
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
