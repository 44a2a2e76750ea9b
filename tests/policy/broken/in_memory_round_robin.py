"""Field report 001: two Spring Boot (petclinic) pods with in-memory sessions behind a round-robin
Service and Ingress. Every other request lands on the other pod: back to the login page."""

import pulumi_kubernetes as k8s

labels = {"app": "petclinic", "sessionstack.io/session-holding": "true"}
metadata = {"name": "petclinic", "namespace": "shop"}

k8s.apps.v1.Deployment(
    "petclinic",
    metadata=metadata,
    spec=k8s.apps.v1.DeploymentSpecArgs(
        replicas=2,
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
            spec=k8s.core.v1.PodSpecArgs(
                containers=[
                    k8s.core.v1.ContainerArgs(
                        name="petclinic",
                        image="docker.io/springcommunity/spring-petclinic:3.3.0",
                        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=8080)],
                    )
                ]
            ),
        ),
    ),
)
service = k8s.core.v1.Service(
    "petclinic",
    metadata=metadata,
    spec=k8s.core.v1.ServiceSpecArgs(selector=labels, ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http")]),
)
k8s.networking.v1.Ingress(
    "petclinic",
    metadata=metadata,
    spec=k8s.networking.v1.IngressSpecArgs(
        ingress_class_name="nginx",
        rules=[
            k8s.networking.v1.IngressRuleArgs(
                http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                    paths=[
                        k8s.networking.v1.HTTPIngressPathArgs(
                            path="/",
                            path_type="Prefix",
                            backend=k8s.networking.v1.IngressBackendArgs(
                                service=k8s.networking.v1.IngressServiceBackendArgs(
                                    name=service.metadata.name, port=k8s.networking.v1.ServiceBackendPortArgs(number=80)
                                )
                            ),
                        )
                    ]
                )
            )
        ],
    ),
)
