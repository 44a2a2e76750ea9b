"""AwsLoadBalancerController under Pulumi mocks: IRSA trust bound to the controller's ServiceAccount,
the trimmed IAM policy, the annotated ServiceAccount and the pinned Helm release."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sessionstack.aws_lb_controller import (
    CHART_REPOSITORY,
    CHART_VERSION,
    ROLE_ARN_ANNOTATION,
    AwsLoadBalancerController,
    AwsLoadBalancerControllerArgs,
    controller_policy,
    irsa_trust_policy,
)
from tests.components.aws_mocks import aws_extras  # noqa: F401 (fixture)

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123"


def make_args(**overrides: Any) -> AwsLoadBalancerControllerArgs:
    base: dict[str, Any] = {
        "cluster_name": "shop",
        "vpc_id": "vpc-123",
        "oidc_provider_arn": OIDC_ARN,
        "oidc_provider_url": ISSUER,
    }
    return AwsLoadBalancerControllerArgs(**{**base, **overrides})


def by_type(pulumi_mocks, token: str) -> list:
    return [r for r in pulumi_mocks.resources if r.type == token]


# --- pure policies -----------------------------------------------------------------------------
def test_trust_policy_admits_only_the_controller_service_account() -> None:
    trust = irsa_trust_policy(OIDC_ARN, ISSUER, "kube-system", "aws-load-balancer-controller")
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Federated": OIDC_ARN}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:sub": "system:serviceaccount:kube-system:aws-load-balancer-controller",
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:aud": "sts.amazonaws.com",
        }
    }
    # IAM condition keys name the issuer without scheme; both spellings of the URL give the same keys.
    assert irsa_trust_policy(OIDC_ARN, ISSUER.removeprefix("https://"), "kube-system", "aws-load-balancer-controller") == trust


def test_policy_allows_target_registration_and_sg_ingress_but_creates_nothing() -> None:
    policy = controller_policy()
    actions = [a for s in policy["Statement"] for a in s["Action"]]
    assert len(actions) == len(set(actions))
    for needed in (
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
    ):
        assert needed in actions
    writes = [a for a in actions if not a.split(":", 1)[1].startswith(("Describe", "Get"))]
    assert sorted(writes) == sorted(
        [
            "elasticloadbalancing:RegisterTargets",
            "elasticloadbalancing:DeregisterTargets",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupIngress",
        ]
    )
    assert not any(a.startswith(("iam:", "wafv2:", "waf-regional:", "shield:", "acm:", "cognito-idp:")) for a in actions)
    register = next(s for s in policy["Statement"] if "elasticloadbalancing:RegisterTargets" in s["Action"])
    assert register["Resource"] == "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*"


# --- Args validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("namespace", "Kube_System", "a DNS-1123 label"),
        ("service_account_name", "", "a DNS-1123 subdomain"),
        ("release_name", "x" * 54, "a Helm release name"),
        ("chart_version", "^3.5", "an exact chart version"),
        ("chart_version", "latest", "an exact chart version"),
        ("replicas", 0, "an integer from 1 to 5"),
        ("replicas", True, "an integer from 1 to 5"),
    ],
)
def test_bad_args_are_rejected_with_field_value_and_allowed(field: str, value: Any, allowed: str) -> None:
    with pytest.raises(ValueError) as err:
        make_args(**{field: value})
    assert str(err.value).startswith(f"AwsLoadBalancerControllerArgs.{field} must be {allowed}")
    assert str(err.value).endswith(f"got {value!r}")


# --- under mocks -------------------------------------------------------------------------------
def test_role_trusts_the_oidc_provider_for_the_service_account(pulumi_mocks, aws_extras) -> None:
    AwsLoadBalancerController("lbc", make_args(namespace="ops", service_account_name="alb-ctl"))
    (role,) = by_type(pulumi_mocks, "aws:iam/role:Role")
    assert role.name == "lbc-role"
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust == irsa_trust_policy(OIDC_ARN, ISSUER, "ops", "alb-ctl")
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["oidc.eks.eu-west-1.amazonaws.com/id/ABC123:sub"] == "system:serviceaccount:ops:alb-ctl"

    (policy,) = by_type(pulumi_mocks, "aws:iam/policy:Policy")
    assert json.loads(policy.inputs["policy"]) == controller_policy()
    (attachment,) = by_type(pulumi_mocks, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"].endswith(":lbc-policy")


def test_service_account_carries_the_role_and_the_chart_uses_it(pulumi_mocks, aws_extras) -> None:
    lbc = AwsLoadBalancerController("lbc", make_args())
    sa = pulumi_mocks.object("ServiceAccount", "aws-load-balancer-controller")
    assert sa["metadata"]["namespace"] == "kube-system"
    assert sa["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == pulumi_mocks.value(lbc.role_arn)
    assert sa["metadata"]["annotations"][ROLE_ARN_ANNOTATION].endswith(":lbc-role")

    (release,) = by_type(pulumi_mocks, "kubernetes:helm.sh/v3:Release")
    inputs = release.inputs
    assert inputs["chart"] == "aws-load-balancer-controller"
    assert inputs["version"] == CHART_VERSION
    assert inputs["repositoryOpts"] == {"repo": CHART_REPOSITORY}
    assert inputs["namespace"] == "kube-system"
    assert inputs["name"] == "aws-load-balancer-controller"
    values = inputs["values"]
    assert values["serviceAccount"] == {"create": False, "name": "aws-load-balancer-controller"}
    assert (values["clusterName"], values["vpcId"], values["region"]) == ("shop", "vpc-123", "us-east-1")
    assert values["enableServiceMutatorWebhook"] is False
    assert values["replicaCount"] == 2

    assert pulumi_mocks.value(lbc.service_account_name) == "aws-load-balancer-controller"
    assert pulumi_mocks.value(lbc.namespace) == "kube-system"
    assert pulumi_mocks.value(lbc.release_name) == "aws-load-balancer-controller"


def test_explicit_region_skips_the_lookup(pulumi_mocks, aws_extras) -> None:
    AwsLoadBalancerController("lbc", make_args(region="ap-northeast-2"))
    (release,) = by_type(pulumi_mocks, "kubernetes:helm.sh/v3:Release")
    assert release.inputs["values"]["region"] == "ap-northeast-2"
    assert "aws:index/getRegion:getRegion" not in aws_extras.tokens()


def test_every_child_is_parented_and_named_after_the_component(pulumi_mocks, aws_extras) -> None:
    AwsLoadBalancerController("lbc", make_args())
    children = [r for r in pulumi_mocks.resources if r.type != "sessionstack:aws:AwsLoadBalancerController"]
    assert {r.name for r in children} == {"lbc-role", "lbc-policy", "lbc-policy-attachment", "lbc-sa", "lbc-chart"}
    assert all("sessionstack:aws:AwsLoadBalancerController$" in r.urn for r in children)


def test_two_controllers_for_two_clusters_do_not_collide(pulumi_mocks, aws_extras) -> None:
    # One controller per cluster (the chart's webhooks and ClusterRoles are cluster-wide); two
    # clusters in one stack need two components side by side.
    import pulumi
    import pulumi_kubernetes as k8s

    for color in ("blue", "green"):
        provider = k8s.Provider(f"{color}-k8s", kubeconfig="{}")
        AwsLoadBalancerController(
            f"{color}-lbc", make_args(cluster_name=color), opts=pulumi.ResourceOptions(providers=[provider])
        )
    assert pulumi_mocks.run.duplicate_urns == []
    roles = [json.loads(r.inputs["assumeRolePolicy"]) for r in by_type(pulumi_mocks, "aws:iam/role:Role")]
    assert len(roles) == 2
    releases = sorted(r.inputs["values"]["clusterName"] for r in by_type(pulumi_mocks, "kubernetes:helm.sh/v3:Release"))
    assert releases == ["blue", "green"]
