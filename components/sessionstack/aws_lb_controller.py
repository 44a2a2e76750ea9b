"""AwsLoadBalancerController: the controller that registers pods in the front door's target groups.

The ALB, its listener, rules and target groups are Pulumi's (components/aws_front_door.py); the
controller's only job here is the TargetGroupBinding objects: it watches the bound Services'
endpoints, registers each ready pod IP in the target group, deregisters terminating pods (which
then drain for the target group's deregistration delay) and opens the node/pod security group to
the ALB's security group. It runs with an IAM role for service accounts (IRSA): the role trusts
the cluster's OIDC provider, for exactly one ServiceAccount, which this component creates and
annotates; the Helm chart is told to use it instead of creating its own.

IAM policy - deliberately trimmed. The controller's published policy (docs/install/iam_policy.json,
v3.x) also lets it create and delete load balancers, target groups, listeners, rules and security
groups, tag them, and manage WAF, Shield, ACM and Cognito: what it needs to build ALBs for Ingress
and NLBs for Services. With TargetGroupBinding only, it needs: every read-only Describe/Get call of
that policy (kept whole: the controller reads them during discovery and reconciliation and they
change nothing), Register/DeregisterTargets on target groups, and Authorize/RevokeSecurityGroupIngress
(the networking rules of a binding; the published policy grants these on "*" too). The chart is
therefore installed with the Service mutator webhook, Shield, WAF and WAFv2 off. To let the same
controller serve Ingress or LoadBalancer Services as well, attach the published policy to
``role_name`` yourself.

The install only happens on a real ``pulumi up`` against EKS (it needs the cluster, IRSA and the
chart repository); under mocks and in previews only the declarations are checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import partial
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from sessionstack import k8s_common, validation

_fail = partial(validation.fail, "AwsLoadBalancerControllerArgs")

CHART = "aws-load-balancer-controller"
CHART_REPOSITORY = "https://aws.github.io/eks-charts"
CHART_VERSION = "3.5.0"
"""eks/aws-load-balancer-controller chart (from 3.0 the chart version equals the controller's)."""
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
STS_AUDIENCE = "sts.amazonaws.com"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")

# Read-only calls of the published policy (v3.x): discovery of VPC, subnets, security groups,
# ENIs and instances, and every elasticloadbalancing Describe*.
_READ_ONLY_ACTIONS = (
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAddresses",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeTags",
    "ec2:DescribeRouteTables",
    "ec2:DescribeIpamPools",
    "ec2:DescribeCoipPools",
    "ec2:GetCoipPoolUsage",
    "ec2:GetSecurityGroupsForVpc",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores",
    "elasticloadbalancing:DescribeCapacityReservation",
)


def controller_policy() -> dict[str, Any]:
    """IAM policy for a controller that only serves TargetGroupBindings (see the module docstring)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Discover", "Effect": "Allow", "Action": list(_READ_ONLY_ACTIONS), "Resource": "*"},
            {
                "Sid": "RegisterPodTargets",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                "Resource": "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
            },
            {
                "Sid": "OpenNodeSecurityGroupToTheLoadBalancer",
                "Effect": "Allow",
                "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                "Resource": "*",
            },
        ],
    }


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> dict[str, Any]:
    """Trust policy: only tokens for ``system:serviceaccount:<namespace>:<service_account>`` issued
    by the cluster's OIDC provider for the STS audience may assume the role."""
    issuer = oidc_issuer.removeprefix("https://")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": STS_AUDIENCE,
                    }
                },
            }
        ],
    }


@dataclass(frozen=True)
class AwsLoadBalancerControllerArgs:
    cluster_name: pulumi.Input[str]
    """EKS cluster name, given to the chart as clusterName (EksCluster.cluster_name)."""
    vpc_id: pulumi.Input[str]
    """Given to the controller so it need not ask the instance metadata service."""
    oidc_provider_arn: pulumi.Input[str]
    """ARN of the cluster's IAM OIDC provider, which the IRSA role trusts (EksCluster.oidc_provider_arn)."""
    oidc_provider_url: pulumi.Input[str]
    """The cluster's OIDC issuer URL, with or without ``https://`` (EksCluster.oidc_provider_url)."""
    namespace: str = "kube-system"
    """Namespace (a DNS-1123 label) of the controller's ServiceAccount and Helm release."""
    service_account_name: str = "aws-load-balancer-controller"
    """ServiceAccount (a DNS-1123 subdomain) this component creates and annotates with the role ARN;
    the only subject the role's trust policy admits."""
    release_name: str = "aws-load-balancer-controller"
    """Helm release name; the chart names its Deployment, webhook Service and certificates after it."""
    chart_version: str = CHART_VERSION
    """Exact chart version 'X.Y.Z' (no ranges: installs must be reproducible); from 3.0 it equals
    the controller's version."""
    replicas: int = 2
    """Controller pods (leader election; the second takes over when the first goes)."""
    region: pulumi.Input[str] | None = None
    """None: the AWS provider's region."""

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str) or not _DNS_LABEL.match(self.namespace):
            _fail("namespace", self.namespace, "a DNS-1123 label such as 'kube-system'")
        if not isinstance(self.service_account_name, str) or not _DNS_SUBDOMAIN.match(self.service_account_name):
            _fail("service_account_name", self.service_account_name, "a DNS-1123 subdomain such as 'aws-load-balancer-controller'")
        if not isinstance(self.release_name, str) or len(self.release_name) > 53 or not _DNS_LABEL.match(self.release_name):
            _fail("release_name", self.release_name, "a Helm release name (DNS-1123 label of at most 53 characters)")
        if not isinstance(self.chart_version, str) or not _SEMVER.match(self.chart_version):
            _fail("chart_version", self.chart_version, "an exact chart version such as '3.5.0' (no ranges: installs must be reproducible)")
        if isinstance(self.replicas, bool) or not isinstance(self.replicas, int) or not 1 <= self.replicas <= 5:
            _fail("replicas", self.replicas, "an integer from 1 to 5")


def chart_values(args: AwsLoadBalancerControllerArgs, cluster_name: str, vpc_id: str, region: str) -> dict[str, Any]:
    """Helm values: our ServiceAccount (IRSA), explicit cluster/VPC/region, nothing beyond bindings."""
    return {
        "clusterName": cluster_name,
        "region": region,
        "vpcId": vpc_id,
        "replicaCount": args.replicas,
        "serviceAccount": {"create": False, "name": args.service_account_name},
        # Do not take over every new Service of type LoadBalancer in the cluster.
        "enableServiceMutatorWebhook": False,
        # Ingress add-ons whose permissions the trimmed policy leaves out.
        "enableShield": False,
        "enableWaf": False,
        "enableWafv2": False,
    }


class AwsLoadBalancerController(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    """IAM role the controller assumes through IRSA."""
    role_name: pulumi.Output[str]
    """Name of the IRSA role; attach the published policy to it to serve Ingress or LoadBalancer
    Services as well."""
    policy_arn: pulumi.Output[str]
    """ARN of the trimmed, TargetGroupBinding-only IAM policy attached to the role."""
    service_account_name: pulumi.Output[str]
    """The controller's ServiceAccount (annotated with role_arn), as created in namespace."""
    namespace: pulumi.Output[str]
    """Namespace the controller runs in (its ServiceAccount and Helm release)."""
    release_name: pulumi.Output[str]
    """Name of the Helm release; the controller's Deployment, webhook Service and certificates
    are named after it."""
    release_status: pulumi.Output[str]
    """Helm's status of the release ('deployed' once installed)."""

    def __init__(self, name: str, args: AwsLoadBalancerControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        k8s_common.validate_component_name("AwsLoadBalancerController", name)
        super().__init__("sessionstack:aws:AwsLoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = k8s_common.standard_labels("aws-load-balancer-controller", name, "controller")

        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_provider_url).apply(
            lambda pair: json.dumps(irsa_trust_policy(pair[0], pair[1], args.namespace, args.service_account_name))
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=trust,
            description=f"AWS Load Balancer Controller ({args.namespace}/{args.service_account_name}) via IRSA",
            opts=child,
        )
        policy = aws.iam.Policy(
            f"{name}-policy",
            policy=json.dumps(controller_policy()),
            description="AWS Load Balancer Controller, TargetGroupBinding only (trimmed from the published policy)",
            opts=child,
        )
        attachment = aws.iam.RolePolicyAttachment(f"{name}-policy-attachment", role=role.name, policy_arn=policy.arn, opts=child)
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={
                "name": args.service_account_name,
                "namespace": args.namespace,
                "labels": labels,
                "annotations": {ROLE_ARN_ANNOTATION: role.arn},
            },
            opts=child,
        )

        region = args.region if args.region is not None else aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        values = pulumi.Output.all(args.cluster_name, args.vpc_id, region).apply(
            lambda triple: chart_values(args, *triple)
        )
        release = k8s.helm.v3.Release(
            f"{name}-chart",
            k8s.helm.v3.ReleaseArgs(
                name=args.release_name,
                chart=CHART,
                version=args.chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
                namespace=args.namespace,
                values=values,
                atomic=True,  # a failed install rolls back instead of leaving half a controller
                cleanup_on_fail=True,
                timeout=600,
            ),
            # The pods must find their ServiceAccount and a role that already has its permissions.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[service_account, attachment]),
        )

        self.role_arn = role.arn
        self.role_name = role.name
        self.policy_arn = policy.arn
        self.service_account_name = service_account.metadata.name
        self.namespace = service_account.metadata.namespace
        self.release_name = release.name
        # Absent until the provider has installed the release (previews, mocks): then ''.
        self.release_status = release.status.apply(lambda status: (status.status or "") if status is not None else "")
        self.register_outputs(
            {
                "role_arn": self.role_arn,
                "role_name": self.role_name,
                "policy_arn": self.policy_arn,
                "service_account_name": self.service_account_name,
                "namespace": self.namespace,
                "release_name": self.release_name,
                "release_status": self.release_status,
            }
        )
