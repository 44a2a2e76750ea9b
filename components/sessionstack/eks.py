"""EksCluster: the AWS home of the stack - a VPC over N availability zones and an EKS cluster in it.

Created (the default): a VPC with a public and a private subnet per zone, an internet gateway, NAT
gateways (one per zone by default, so losing a zone never cuts the others off the internet), route
tables, an EKS control plane with its IAM role, a managed node group spread over the private
subnets with its IAM role, and the IAM OIDC provider that IAM roles for service accounts (IRSA)
trust. Subnets carry the tags the AWS Load Balancer Controller discovers them by.

Adopted (``existing_cluster_name``): nothing is created but the Kubernetes provider; the VPC,
subnets (found by those same tags), cluster security group and OIDC provider are looked up.

Either way the outputs are the same, and ``provider`` is a ``pulumi_kubernetes.Provider`` for the
cluster: pass it to the Kubernetes components through ``ResourceOptions(providers=[...])``.

The kubeconfig authenticates with ``aws eks get-token`` (the AWS CLI must be on the PATH of
whoever runs ``pulumi up``), so it holds no credential of its own; it is still a secret Output.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from sessionstack import k8s_common, validation

_fail = partial(validation.fail, "EksClusterArgs")
_check_int = partial(validation.check_int, "EksClusterArgs")
_is_ipv4_cidr = validation.is_ipv4_cidr

ELB_ROLE_TAG = "kubernetes.io/role/elb"
"""Public subnets: where the ALB controller (and our AwsFrontDoor) may put internet-facing load balancers."""
INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb"
"""Private subnets: internal load balancers."""

_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
_K8S_VERSION = re.compile(r"^1\.(\d+)$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
# Graviton families: letters, generation digit(s), then 'g' (m7g, c7gn, t4g, r8g, x2gd, im4gn, g5g).
_ARM_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*\.")

_CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
_NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")


def cluster_tag(cluster_name: str) -> str:
    """The tag key that ties a subnet to a cluster (value 'shared': other clusters may use it too)."""
    return f"kubernetes.io/cluster/{cluster_name}"


class NatGateways(str, enum.Enum):
    """How private subnets reach the internet (image pulls, AWS APIs)."""

    PER_AZ = "per-az"
    """One NAT gateway per zone: a zone outage leaves the other zones' egress intact."""
    ONE = "one"
    """A single NAT gateway in the first zone: cheaper, but every zone's egress depends on it."""


@dataclass(frozen=True)
class EksClusterArgs:
    availability_zones: int = 2
    """Zones for subnets, NAT gateways and nodes (2-6); the ALB needs at least two."""
    vpc_cidr: str = "10.0.0.0/16"
    """Private IPv4 block, /16 to /20; pods take their IPs from the private subnets (VPC CNI)."""
    kubernetes_version: str = "1.33"
    """Kubernetes version of the EKS control plane, '1.N' with N >= 30."""
    node_instance_type: str = "m6i.large"
    """EC2 instance type of the managed nodes; Graviton types (m7g, t4g, ...) get the ARM64
    Amazon Linux 2023 AMI, the others the x86_64 one."""
    node_count: int = 3
    """Nodes in the managed node group (2-100), spread over the zones."""
    cluster_name: str | None = None
    """EKS cluster name; None: the component's name. Subnet tags name it, so it is fixed up front."""
    existing_cluster_name: str | None = None
    """Set: adopt this existing cluster instead of creating VPC and cluster (None or '': create)."""
    nat_gateways: NatGateways = NatGateways.PER_AZ
    """PER_AZ: one NAT gateway per zone, so losing a zone never cuts the others off the internet;
    ONE: a single, cheaper gateway that every zone's egress depends on."""
    public_access_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    """Who may reach the public Kubernetes API endpoint (it still requires IAM authentication)."""

    def __post_init__(self) -> None:
        _check_int("availability_zones", self.availability_zones, 2, 6)
        _check_int("node_count", self.node_count, 2, 100)
        if not _is_vpc_cidr(self.vpc_cidr):
            _fail("vpc_cidr", self.vpc_cidr, "a private IPv4 CIDR from /16 to /20 such as '10.0.0.0/16'")
        version = _K8S_VERSION.match(self.kubernetes_version) if isinstance(self.kubernetes_version, str) else None
        if not version or int(version.group(1)) < 30:
            _fail("kubernetes_version", self.kubernetes_version, "a version '1.N' with N >= 30")
        if not isinstance(self.node_instance_type, str) or not _INSTANCE_TYPE.match(self.node_instance_type):
            _fail("node_instance_type", self.node_instance_type, "an EC2 instance type such as 'm6i.large'")
        if self.cluster_name is not None and (not isinstance(self.cluster_name, str) or not _CLUSTER_NAME.match(self.cluster_name)):
            _fail("cluster_name", self.cluster_name, "None or an EKS cluster name (1-100 letters, digits, '-' or '_', starting with a letter or digit)")
        existing = self.existing_cluster_name
        if existing is not None and (not isinstance(existing, str) or (existing and not _CLUSTER_NAME.match(existing))):
            _fail("existing_cluster_name", existing, "None, '' or an EKS cluster name")
        if self.existing_cluster_name and self.cluster_name is not None:
            _fail("cluster_name", self.cluster_name, "None when existing_cluster_name is set (the existing cluster has its name)")
        if not isinstance(self.nat_gateways, NatGateways):
            _fail("nat_gateways", self.nat_gateways, "one of " + ", ".join(repr(m.value) for m in NatGateways))
        if isinstance(self.public_access_cidrs, str) or not self.public_access_cidrs or not all(_is_ipv4_cidr(c) for c in self.public_access_cidrs):
            _fail("public_access_cidrs", self.public_access_cidrs, "a non-empty tuple of IPv4 CIDRs such as ('203.0.113.0/24',)")


def _is_vpc_cidr(value: object) -> bool:
    if not _is_ipv4_cidr(value):
        return False
    net = ipaddress.ip_network(str(value))
    return 16 <= net.prefixlen <= 20 and net.is_private


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(private, public) subnet CIDRs, one of each per zone.

    The VPC is cut into eighths: the first ``zones`` eighths are the private subnets (nodes and,
    with the VPC CNI, every pod take addresses there, so they get the room), the last eighth is cut
    into eighths again for the public subnets (only load balancers and NAT gateways live there).
    /16 gives /19 private and /22 public subnets; /20 gives /23 and /26 (an ALB needs a /27).
    """
    net = ipaddress.ip_network(vpc_cidr, strict=True)
    if not 1 <= zones <= 6:
        raise ValueError(f"zones must be from 1 to 6, got {zones!r}")
    eighths = list(net.subnets(prefixlen_diff=3))
    private = [str(block) for block in eighths[:zones]]
    public = [str(block) for block in list(eighths[-1].subnets(prefixlen_diff=3))[:zones]]
    return private, public


def node_ami_type(instance_type: str) -> str:
    """The EKS-optimised Amazon Linux 2023 AMI for the instance's architecture (AL2 ends with 1.32)."""
    arm = bool(_ARM_FAMILY.match(instance_type)) or instance_type.startswith("a1.")
    return "AL2023_ARM_64_STANDARD" if arm else "AL2023_x86_64_STANDARD"


def assume_role_policy(service: str) -> str:
    """Trust policy letting an AWS service principal assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig (JSON, which is YAML) that gets its token from ``aws eks get-token``."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [{"name": cluster_name, "user": user}],
        },
        indent=2,
    )


class _Network(NamedTuple):
    vpc: aws.ec2.Vpc
    public_subnets: list[aws.ec2.Subnet]
    private_subnets: list[aws.ec2.Subnet]
    routes_out: list[pulumi.Resource]
    """The private subnets' route tables and associations: nodes need them before they can join."""


class EksCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    """EKS cluster name (created or adopted), for the load balancer controller and
    `aws eks update-kubeconfig`."""
    kubeconfig: pulumi.Output[str]
    """Secret Output: kubeconfig using ``aws eks get-token``."""
    vpc_id: pulumi.Output[str]
    """The cluster's VPC: where the ALB, target groups and ElastiCache security group go."""
    public_subnet_ids: pulumi.Output[list[str]]
    """One per zone, tagged kubernetes.io/role/elb: where the internet-facing ALB goes."""
    private_subnet_ids: pulumi.Output[list[str]]
    """One per zone, tagged kubernetes.io/role/internal-elb: nodes, pods, ElastiCache."""
    cluster_security_group_id: pulumi.Output[str]
    """The EKS-managed cluster security group. Managed node groups attach it to every node and,
    with the VPC CNI, pods share their node's security groups: this is the node/pod group that
    the ALB and ElastiCache rules refer to."""
    oidc_provider_arn: pulumi.Output[str]
    """ARN of the cluster's IAM OIDC provider, which IRSA trust policies name
    (AwsLoadBalancerControllerArgs.oidc_provider_arn)."""
    oidc_provider_url: pulumi.Output[str]
    """The cluster's OIDC issuer URL (``https://oidc.eks.<region>.amazonaws.com/id/...``)."""
    provider: k8s.Provider
    """Kubernetes provider for this cluster (created after the node group, so workloads have nodes)."""

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        k8s_common.validate_component_name("EksCluster", name)
        super().__init__("sessionstack:aws:EksCluster", name, None, opts)
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        if args.existing_cluster_name:
            ready = self._adopt(name, args.existing_cluster_name, region)
        else:
            ready = self._create(name, args, region)
        self.kubeconfig = pulumi.Output.secret(self.kubeconfig)
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self, depends_on=ready)
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "kubeconfig": self.kubeconfig,
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "cluster_security_group_id": self.cluster_security_group_id,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_provider_url": self.oidc_provider_url,
            }
        )

    def _create(self, name: str, args: EksClusterArgs, region: pulumi.Output[str]) -> list[pulumi.Resource]:
        cluster_name = args.cluster_name or name
        network = self._network(name, args, cluster_name)
        private_subnets = network.private_subnets
        cluster_role, cluster_attachments = self._service_role(f"{name}-cluster", "eks.amazonaws.com", _CLUSTER_POLICIES)
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=[s.id for s in private_subnets],  # control-plane ENIs stay private
                endpoint_private_access=True,
                endpoint_public_access=True,
                public_access_cidrs=list(args.public_access_cidrs),
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API_AND_CONFIG_MAP",
                # Whoever runs `pulumi up` becomes cluster admin, so the provider below can deploy.
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            tags={"Name": cluster_name},
            opts=pulumi.ResourceOptions(parent=self, depends_on=cluster_attachments),
        )

        node_role, node_attachments = self._service_role(f"{name}-node", "ec2.amazonaws.com", _NODE_POLICIES)
        node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=[s.id for s in private_subnets],
            instance_types=[args.node_instance_type],
            ami_type=node_ami_type(args.node_instance_type),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                desired_size=args.node_count, min_size=args.node_count, max_size=args.node_count
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            # Nodes need their IAM policies and a route out (NAT) before they can join.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*node_attachments, *network.routes_out]),
        )

        issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            # No thumbprint: IAM trusts the EKS issuer's certificate authority itself.
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.cluster_name = cluster.name
        self.vpc_id = network.vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in network.public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.cluster_security_group_id = cluster.vpc_config.cluster_security_group_id
        self.oidc_provider_arn = oidc.arn
        self.oidc_provider_url = issuer
        self.kubeconfig = pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data, region).apply(
            lambda values: kubeconfig(*values)
        )
        return [node_group, oidc]

    def _network(self, name: str, args: EksClusterArgs, cluster_name: str) -> "_Network":
        """VPC with a public and a private subnet per zone; the private subnets route out through
        NAT (one, or one per zone), the public ones through the internet gateway."""
        child = pulumi.ResourceOptions(parent=self)
        zones = args.availability_zones
        shared = {cluster_tag(cluster_name): "shared"}
        private_cidrs, public_cidrs = subnet_cidrs(args.vpc_cidr, zones)
        available = aws.get_availability_zones_output(
            state="available",
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        zone_names = available.names.apply(lambda names: _first_zones(names, zones))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,  # EKS nodes register by their private DNS names
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=child)
        subnets: dict[str, list[aws.ec2.Subnet]] = {"public": [], "private": []}
        for i in range(zones):
            zone = zone_names.apply(lambda names, i=i: names[i])
            for kind, cidrs, role_tag in (("public", public_cidrs, ELB_ROLE_TAG), ("private", private_cidrs, INTERNAL_ELB_ROLE_TAG)):
                subnets[kind].append(
                    aws.ec2.Subnet(
                        f"{name}-{kind}-{i}",
                        vpc_id=vpc.id,
                        cidr_block=cidrs[i],
                        availability_zone=zone,
                        tags={"Name": f"{name}-{kind}-{i}", role_tag: "1", **shared},
                        opts=child,
                    )
                )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": f"{name}-public"},
            opts=child,
        )
        for i, subnet in enumerate(subnets["public"]):
            aws.ec2.RouteTableAssociation(f"{name}-public-rta-{i}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child)
        routes_out = self._nat_routing(name, args, vpc, igw, subnets["public"], subnets["private"])
        return _Network(vpc, subnets["public"], subnets["private"], routes_out)

    def _nat_routing(
        self, name: str, args: EksClusterArgs, vpc: aws.ec2.Vpc, igw: aws.ec2.InternetGateway, public: list[aws.ec2.Subnet], private: list[aws.ec2.Subnet]
    ) -> list[pulumi.Resource]:
        """NAT gateways in the public subnets and each private subnet's route table through one."""
        child = pulumi.ResourceOptions(parent=self)
        per_az = args.nat_gateways is NatGateways.PER_AZ
        nats = []
        for i in range(len(private) if per_az else 1):
            eip = aws.ec2.Eip(f"{name}-nat-eip-{i}", domain="vpc", tags={"Name": f"{name}-nat-{i}"}, opts=child)
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=eip.id,
                    subnet_id=public[i].id,
                    tags={"Name": f"{name}-nat-{i}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )
        routing: list[pulumi.Resource] = []
        for i, subnet in enumerate(private):
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{i}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[i if per_az else 0].id)],
                tags={"Name": f"{name}-private-{i}"},
                opts=child,
            )
            routing += [rt, aws.ec2.RouteTableAssociation(f"{name}-private-rta-{i}", subnet_id=subnet.id, route_table_id=rt.id, opts=child)]
        return routing

    def _service_role(self, prefix: str, service: str, policies: tuple[str, ...]) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """Role ``<prefix>-role`` that ``service`` may assume, with AWS managed ``policies`` attached."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{prefix}-role", assume_role_policy=assume_role_policy(service), opts=child)
        attachments: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(f"{prefix}-{policy}", role=role.name, policy_arn=f"arn:aws:iam::aws:policy/{policy}", opts=child)
            for policy in policies
        ]
        return role, attachments

    def _adopt(self, name: str, cluster_name: str, region: pulumi.Output[str]) -> list[pulumi.Resource]:
        invoke = pulumi.InvokeOutputOptions(parent=self)
        cluster = aws.eks.get_cluster_output(name=cluster_name, opts=invoke)
        vpc_id = cluster.vpc_config.vpc_id
        issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        oidc = aws.iam.get_open_id_connect_provider_output(url=issuer, opts=invoke)

        def tagged(tag: str) -> pulumi.Output[list[str]]:
            found = aws.ec2.get_subnets_output(
                filters=[{"name": "vpc-id", "values": [vpc_id]}], tags={tag: "1"}, opts=invoke
            )
            return found.ids.apply(lambda ids: sorted(ids or []))

        def need_public(ids: list[str]) -> list[str]:
            if len(ids) < 2:
                raise ValueError(
                    f"EksCluster {name}: existing cluster {cluster_name!r} has {len(ids)} subnet(s) tagged "
                    f"{ELB_ROLE_TAG}=1 in its VPC; the internet-facing ALB needs at least 2 (tag one public subnet per zone)"
                )
            return ids

        self.cluster_name = cluster.name
        self.vpc_id = vpc_id
        self.public_subnet_ids = tagged(ELB_ROLE_TAG).apply(need_public)
        # Without tagged private subnets, the cluster's own subnets are where its nodes live.
        self.private_subnet_ids = pulumi.Output.all(tagged(INTERNAL_ELB_ROLE_TAG), cluster.vpc_config.subnet_ids).apply(
            lambda pair: pair[0] or sorted(pair[1])
        )
        self.cluster_security_group_id = cluster.vpc_config.cluster_security_group_id
        self.oidc_provider_arn = oidc.arn
        self.oidc_provider_url = issuer
        self.kubeconfig = pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.certificate_authorities.apply(lambda cas: cas[0].data), region
        ).apply(lambda values: kubeconfig(*values))
        return []


def _first_zones(names: list[str] | None, zones: int) -> list[str]:
    names = sorted(names or [])
    if len(names) < zones:
        raise ValueError(
            f"EksClusterArgs.availability_zones is {zones}, but this region offers {len(names)} zone(s) "
            f"without opt-in ({', '.join(names) or 'none'})"
        )
    return names[:zones]

