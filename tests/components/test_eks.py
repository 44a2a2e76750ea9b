"""EksCluster under Pulumi mocks: VPC layout, ALB subnet tags, IAM, node group, OIDC, kubeconfig,
adopting an existing cluster; plus the pure helpers (CIDR plan, AMI type, kubeconfig)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from sessionstack.eks import (
    ELB_ROLE_TAG,
    INTERNAL_ELB_ROLE_TAG,
    EksCluster,
    EksClusterArgs,
    NatGateways,
    cluster_tag,
    kubeconfig,
    node_ami_type,
    subnet_cidrs,
)
from tests.components.aws_mocks import aws_extras  # noqa: F401 (fixture)

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]


pytestmark = pytest.mark.usefixtures("aws_extras")


# --- helpers -----------------------------------------------------------------------------------
def of_type(pulumi_mocks, token: str, prefix: str = "") -> list:
    return [r for r in pulumi_mocks.resources if r.type == token and r.name.startswith(prefix)]


def one(pulumi_mocks, token: str, name: str):
    found = [r for r in pulumi_mocks.resources if r.type == token and r.name == name]
    assert len(found) == 1, f"expected one {token} {name!r}, got {[r.name for r in found]}"
    return found[0]


# --- pure helpers ------------------------------------------------------------------------------
@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "10.20.0.0/18", "172.16.0.0/20"])
@pytest.mark.parametrize("zones", [2, 3, 6])
def test_subnet_plan_is_disjoint_and_inside_the_vpc(cidr: str, zones: int) -> None:
    private, public = subnet_cidrs(cidr, zones)
    vpc = ipaddress.ip_network(cidr)
    nets = [ipaddress.ip_network(c) for c in private + public]
    assert len(private) == len(public) == zones
    assert all(n.subnet_of(vpc) for n in nets)
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    # Pods take private addresses (VPC CNI): private subnets are 8x the public ones.
    assert all(ipaddress.ip_network(p).num_addresses == 8 * ipaddress.ip_network(q).num_addresses for p, q in zip(private, public))
    # An ALB needs a /27 or larger subnet.
    assert all(ipaddress.ip_network(q).prefixlen <= 27 for q in public)


def test_subnet_plan_for_the_default_vpc() -> None:
    private, public = subnet_cidrs("10.0.0.0/16", 2)
    assert private == ["10.0.0.0/19", "10.0.32.0/19"]
    assert public == ["10.0.224.0/22", "10.0.228.0/22"]


@pytest.mark.parametrize(
    "instance_type, ami",
    [
        ("m6i.large", "AL2023_x86_64_STANDARD"),
        ("g5.xlarge", "AL2023_x86_64_STANDARD"),
        ("inf2.xlarge", "AL2023_x86_64_STANDARD"),
        ("m7g.large", "AL2023_ARM_64_STANDARD"),
        ("c7gn.large", "AL2023_ARM_64_STANDARD"),
        ("t4g.medium", "AL2023_ARM_64_STANDARD"),
        ("im4gn.large", "AL2023_ARM_64_STANDARD"),
    ],
)
def test_node_ami_follows_the_instance_architecture(instance_type: str, ami: str) -> None:
    assert node_ami_type(instance_type) == ami


def test_kubeconfig_uses_aws_eks_get_token() -> None:
    config = json.loads(kubeconfig("demo", "https://x.eks.amazonaws.com", "Q0E=", "eu-west-1"))
    assert config["current-context"] == "demo"
    assert config["clusters"][0]["cluster"] == {"server": "https://x.eks.amazonaws.com", "certificate-authority-data": "Q0E="}
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"][:4] == ["eks", "get-token", "--cluster-name", "demo"]
    assert "--region" in exec_["args"] and exec_["args"][exec_["args"].index("--region") + 1] == "eu-west-1"
    assert "token" not in json.dumps(config["users"][0]["user"]).replace("get-token", "")


# --- Args validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("availability_zones", 1, "an integer from 2 to 6"),
        ("availability_zones", 7, "an integer from 2 to 6"),
        ("availability_zones", True, "an integer from 2 to 6"),
        ("node_count", 1, "an integer from 2 to 100"),
        ("vpc_cidr", "10.0.0.0/8", "a private IPv4 CIDR from /16 to /20"),
        ("vpc_cidr", "8.8.0.0/16", "a private IPv4 CIDR from /16 to /20"),
        ("vpc_cidr", "10.0.0.1/16", "a private IPv4 CIDR from /16 to /20"),
        ("kubernetes_version", "1.29", "a version '1.N' with N >= 30"),
        ("kubernetes_version", "v1.33", "a version '1.N' with N >= 30"),
        ("node_instance_type", "large", "an EC2 instance type"),
        ("cluster_name", "-bad", "None or an EKS cluster name"),
        ("existing_cluster_name", "bad name", "None, '' or an EKS cluster name"),
        ("existing_cluster_name", 5, "None, '' or an EKS cluster name"),
        ("nat_gateways", "per-az", "one of 'per-az', 'one'"),
        ("public_access_cidrs", (), "a non-empty tuple of IPv4 CIDRs"),
        ("public_access_cidrs", ("0.0.0.0/0", "nope"), "a non-empty tuple of IPv4 CIDRs"),
    ],
)
def test_bad_args_are_rejected_with_field_value_and_allowed(field: str, value: Any, allowed: str) -> None:
    with pytest.raises(ValueError) as err:
        EksClusterArgs(**{field: value})
    message = str(err.value)
    assert message.startswith(f"EksClusterArgs.{field} must be ")
    assert allowed in message
    assert f"got {value!r}" in message


def test_cluster_name_and_existing_cluster_exclude_each_other() -> None:
    with pytest.raises(ValueError, match=r"EksClusterArgs.cluster_name must be None when existing_cluster_name is set .*, got .x."):
        EksClusterArgs(cluster_name="x", existing_cluster_name="prod")


def test_component_name_must_be_a_dns_label(pulumi_mocks) -> None:
    with pytest.raises(ValueError, match="EksCluster name must be a DNS-1123 label"):
        EksCluster("Bad_Name", EksClusterArgs())


# --- a created cluster -------------------------------------------------------------------------
def test_vpc_has_tagged_public_and_private_subnets_per_zone(pulumi_mocks) -> None:
    EksCluster("shop", EksClusterArgs(availability_zones=3, vpc_cidr="10.8.0.0/16", cluster_name="shop-prod"))
    vpc = one(pulumi_mocks, "aws:ec2/vpc:Vpc", "shop-vpc")
    assert vpc.inputs["cidrBlock"] == "10.8.0.0/16"
    assert vpc.inputs["enableDnsHostnames"] is True and vpc.inputs["enableDnsSupport"] is True

    public = sorted(of_type(pulumi_mocks, "aws:ec2/subnet:Subnet", "shop-public-"), key=lambda r: r.name)
    private = sorted(of_type(pulumi_mocks, "aws:ec2/subnet:Subnet", "shop-private-"), key=lambda r: r.name)
    assert len(public) == len(private) == 3
    for subnets, role_tag in ((public, ELB_ROLE_TAG), (private, INTERNAL_ELB_ROLE_TAG)):
        assert [s.inputs["availabilityZone"] for s in subnets] == ZONES[:3]
        for s in subnets:
            assert s.inputs["vpcId"] == "shop-vpc-id"
            assert s.inputs["tags"][role_tag] == "1"
            assert s.inputs["tags"][cluster_tag("shop-prod")] == "shared"
    assert all(ELB_ROLE_TAG not in s.inputs["tags"] for s in private)
    assert all(INTERNAL_ELB_ROLE_TAG not in s.inputs["tags"] for s in public)
    assert [s.inputs["cidrBlock"] for s in private] == subnet_cidrs("10.8.0.0/16", 3)[0]


def test_private_subnets_route_out_through_a_nat_gateway_in_their_own_zone(pulumi_mocks) -> None:
    EksCluster("shop", EksClusterArgs(availability_zones=3))
    nats = {r.name: r for r in of_type(pulumi_mocks, "aws:ec2/natGateway:NatGateway")}
    assert sorted(nats) == ["shop-nat-0", "shop-nat-1", "shop-nat-2"]
    for i in range(3):
        assert nats[f"shop-nat-{i}"].inputs["subnetId"] == f"shop-public-{i}-id"
        assert nats[f"shop-nat-{i}"].inputs["allocationId"] == f"shop-nat-eip-{i}-id"
        rt = one(pulumi_mocks, "aws:ec2/routeTable:RouteTable", f"shop-private-rt-{i}")
        assert rt.inputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "natGatewayId": f"shop-nat-{i}-id"}]
        rta = one(pulumi_mocks, "aws:ec2/routeTableAssociation:RouteTableAssociation", f"shop-private-rta-{i}")
        assert (rta.inputs["subnetId"], rta.inputs["routeTableId"]) == (f"shop-private-{i}-id", f"shop-private-rt-{i}-id")
    public_rt = one(pulumi_mocks, "aws:ec2/routeTable:RouteTable", "shop-public-rt")
    assert public_rt.inputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "gatewayId": "shop-igw-id"}]
    assert len(of_type(pulumi_mocks, "aws:ec2/routeTableAssociation:RouteTableAssociation", "shop-public-rta-")) == 3


def test_a_single_nat_gateway_serves_every_zone(pulumi_mocks) -> None:
    EksCluster("shop", EksClusterArgs(availability_zones=2, nat_gateways=NatGateways.ONE))
    assert [r.name for r in of_type(pulumi_mocks, "aws:ec2/natGateway:NatGateway")] == ["shop-nat-0"]
    for i in range(2):
        rt = one(pulumi_mocks, "aws:ec2/routeTable:RouteTable", f"shop-private-rt-{i}")
        assert rt.inputs["routes"][0]["natGatewayId"] == "shop-nat-0-id"


def test_cluster_node_group_and_iam(pulumi_mocks) -> None:
    EksCluster("shop", EksClusterArgs(availability_zones=2, node_count=4, node_instance_type="m7g.large", kubernetes_version="1.33"))
    cluster = one(pulumi_mocks, "aws:eks/cluster:Cluster", "shop-cluster")
    assert cluster.inputs["name"] == "shop"  # cluster_name defaults to the component name
    assert cluster.inputs["version"] == "1.33"
    assert cluster.inputs["roleArn"].endswith("shop-cluster-role")
    assert cluster.inputs["vpcConfig"]["subnetIds"] == ["shop-private-0-id", "shop-private-1-id"]
    assert cluster.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is True

    roles = {r.name: json.loads(r.inputs["assumeRolePolicy"]) for r in of_type(pulumi_mocks, "aws:iam/role:Role")}
    assert roles["shop-cluster-role"]["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}
    assert roles["shop-node-role"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {r.name: r.inputs["policyArn"] for r in of_type(pulumi_mocks, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attached == {
        "shop-cluster-AmazonEKSClusterPolicy": "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
        "shop-node-AmazonEKSWorkerNodePolicy": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "shop-node-AmazonEKS_CNI_Policy": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        "shop-node-AmazonEC2ContainerRegistryReadOnly": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    }

    nodes = one(pulumi_mocks, "aws:eks/nodeGroup:NodeGroup", "shop-nodes")
    assert nodes.inputs["clusterName"] == "shop"
    assert nodes.inputs["subnetIds"] == ["shop-private-0-id", "shop-private-1-id"]  # one per zone
    assert nodes.inputs["scalingConfig"] == {"desiredSize": 4, "minSize": 4, "maxSize": 4}
    assert nodes.inputs["instanceTypes"] == ["m7g.large"]
    assert nodes.inputs["amiType"] == "AL2023_ARM_64_STANDARD"
    assert nodes.inputs["nodeRoleArn"].endswith("shop-node-role")


def test_outputs_oidc_kubeconfig_and_provider(pulumi_mocks) -> None:
    eks = EksCluster("shop", EksClusterArgs())
    cluster = one(pulumi_mocks, "aws:eks/cluster:Cluster", "shop-cluster")
    oidc = one(pulumi_mocks, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "shop-oidc")
    issuer = pulumi_mocks.value(eks.oidc_provider_url)
    assert issuer.startswith("https://oidc.eks.us-east-1.amazonaws.com/id/")
    assert oidc.inputs["url"] == issuer
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert pulumi_mocks.value(eks.oidc_provider_arn).endswith("shop-oidc")

    assert pulumi_mocks.value(eks.cluster_name) == "shop"
    assert pulumi_mocks.value(eks.vpc_id) == "shop-vpc-id"
    assert pulumi_mocks.value(eks.public_subnet_ids) == ["shop-public-0-id", "shop-public-1-id"]
    assert pulumi_mocks.value(eks.private_subnet_ids) == ["shop-private-0-id", "shop-private-1-id"]
    assert pulumi_mocks.value(eks.cluster_security_group_id) == "sg-shop-cluster-cluster"

    assert pulumi_mocks.is_secret(eks.kubeconfig)
    config = json.loads(pulumi_mocks.value(eks.kubeconfig))
    assert config["clusters"][0]["cluster"]["server"].endswith(".eks.amazonaws.com")
    assert config["users"][0]["user"]["exec"]["args"][3] == "shop"
    assert "--region" in config["users"][0]["user"]["exec"]["args"]

    provider = one(pulumi_mocks, "pulumi:providers:kubernetes", "shop-k8s")
    assert json.loads(provider.inputs["kubeconfig"]) == config
    assert provider.parent_urn.endswith("::shop")
    del cluster


def test_every_child_is_parented_and_named_after_the_component(pulumi_mocks) -> None:
    EksCluster("shop", EksClusterArgs())
    children = [r for r in pulumi_mocks.resources if r.type != "sessionstack:aws:EksCluster"]
    assert children
    assert all(r.name.startswith("shop-") for r in children)
    assert all("sessionstack:aws:EksCluster" in r.urn for r in children)


def test_two_clusters_in_one_stack_do_not_collide(pulumi_mocks) -> None:
    EksCluster("blue", EksClusterArgs())
    EksCluster("green", EksClusterArgs(vpc_cidr="10.1.0.0/16"))
    resources = pulumi_mocks.resources
    assert pulumi_mocks.run.duplicate_urns == []
    names = [r.inputs["name"] for r in resources if r.type == "aws:eks/cluster:Cluster"]
    assert sorted(names) == ["blue", "green"]
    tags = [r.inputs["tags"] for r in resources if r.type == "aws:ec2/subnet:Subnet"]
    assert sum(cluster_tag("blue") in t for t in tags) == 4
    assert sum(cluster_tag("green") in t for t in tags) == 4


# --- an existing cluster -----------------------------------------------------------------------
def test_existing_cluster_is_looked_up_not_created(pulumi_mocks, aws_extras) -> None:
    eks = EksCluster("shop", EksClusterArgs(existing_cluster_name="prod-eks"))
    assert pulumi_mocks.value(eks.cluster_name) == "prod-eks"
    assert pulumi_mocks.value(eks.vpc_id) == "vpc-existing"
    assert pulumi_mocks.value(eks.public_subnet_ids) == ["subnet-pub-a", "subnet-pub-b"]
    assert pulumi_mocks.value(eks.private_subnet_ids) == ["subnet-priv-a", "subnet-priv-b"]
    assert pulumi_mocks.value(eks.cluster_security_group_id) == "sg-existing"
    assert pulumi_mocks.value(eks.oidc_provider_url) == "https://oidc.eks.us-east-1.amazonaws.com/id/EXISTING"
    assert pulumi_mocks.value(eks.oidc_provider_arn) == "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXISTING"
    assert pulumi_mocks.is_secret(eks.kubeconfig)
    assert json.loads(pulumi_mocks.value(eks.kubeconfig))["users"][0]["user"]["exec"]["args"][3] == "prod-eks"

    created = {r.type for r in pulumi_mocks.resources}
    assert created == {"sessionstack:aws:EksCluster", "pulumi:providers:kubernetes"}
    cluster_calls = [c for c in aws_extras if c.token == "aws:eks/getCluster:getCluster"]
    assert [c.args["name"] for c in cluster_calls] == ["prod-eks"]
    subnet_calls = [c for c in aws_extras if c.token == "aws:ec2/getSubnets:getSubnets"]
    assert all(c.args["filters"] == [{"name": "vpc-id", "values": ["vpc-existing"]}] for c in subnet_calls)
    assert sorted(next(iter(c.args["tags"])) for c in subnet_calls) == [ELB_ROLE_TAG, INTERNAL_ELB_ROLE_TAG]


def test_existing_cluster_without_tagged_public_subnets_fails_clearly(pulumi_mocks, aws_extras) -> None:
    aws_extras.overrides["aws:ec2/getSubnets:getSubnets"] = lambda args: {"ids": [], "id": "x"}
    eks = EksCluster("shop", EksClusterArgs(existing_cluster_name="prod-eks"))
    with pytest.raises(ValueError, match=r"has 0 subnet\(s\) tagged kubernetes.io/role/elb=1 .* needs at least 2"):
        pulumi_mocks.value(eks.public_subnet_ids)
    # Private subnets fall back to the cluster's own subnets.
    assert pulumi_mocks.value(eks.private_subnet_ids) == ["subnet-a", "subnet-b"]
