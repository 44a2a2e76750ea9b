"""The cluster's certificates and keys, made with the openssl command line (EC P-256, one year).

One CA signs every serving and client certificate (as kubeadm's does); a second CA signs the
front proxy's client certificate (the aggregation layer); the service-account tokens are signed
with their own key pair. Identities follow Kubernetes' conventions, so the Node authorizer and the
default RBAC bindings apply to them unchanged.
"""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from pathlib import Path

from onenode.config import Node

DAYS = 365


@dataclasses.dataclass(frozen=True)
class Cert:
    name: str
    """File stem: <name>.crt and <name>.key in the pki dir."""
    cn: str
    orgs: tuple[str, ...] = ()
    server: bool = False
    client: bool = False
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    ca: str = "ca"


def certificates(node: Node) -> list[Cert]:
    svc = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{node.cluster_domain}")
    return [
        Cert("apiserver", "kube-apiserver", server=True, dns=(*svc, "localhost", node.name), ips=(node.node_ip, node.api_service_ip, "127.0.0.1")),
        # bound to system:kubelet-api-admin (logs, exec, port-forward through the kubelet)
        Cert("apiserver-kubelet-client", "kube-apiserver-kubelet-client", client=True),
        Cert("admin", "sessionstack-admin", orgs=("system:masters",), client=True),
        Cert("controller-manager", "system:kube-controller-manager", client=True),
        Cert("scheduler", "system:kube-scheduler", client=True),
        Cert("kube-proxy", "system:kube-proxy", client=True),
        # bound to sessionstack:kube-router (addons.policy_agent_rbac): reads pods, namespaces, policies
        Cert("kube-router", "sessionstack:kube-router", client=True),
        Cert("kubelet-client", f"system:node:{node.name}", orgs=("system:nodes",), client=True),
        Cert("kubelet", node.name, server=True, dns=(node.name,), ips=(node.node_ip,)),
        Cert("front-proxy-client", "front-proxy-client", client=True, ca="front-proxy-ca"),
    ]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)


def _subject(cn: str, orgs: tuple[str, ...]) -> str:
    return "".join(f"/O={o}" for o in orgs) + f"/CN={cn}"


def make_ca(pki: Path, name: str, cn: str) -> None:
    _key(pki / f"{name}.key")
    _openssl(
        "req", "-x509", "-new", "-key", str(pki / f"{name}.key"), "-subj", _subject(cn, ()), "-days", str(DAYS * 10),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-out", str(pki / f"{name}.crt"),
    )


def extensions(cert: Cert) -> str:
    """The v3 extensions of a leaf certificate, as an openssl extfile."""
    usages = [u for u, on in (("serverAuth", cert.server), ("clientAuth", cert.client)) if on]
    lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment", f"extendedKeyUsage={','.join(usages)}"]
    sans = [f"DNS:{d}" for d in cert.dns] + [f"IP:{i}" for i in cert.ips]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    return "\n".join(lines) + "\n"


def make_cert(pki: Path, cert: Cert) -> None:
    key, crt = pki / f"{cert.name}.key", pki / f"{cert.name}.crt"
    _key(key)
    with tempfile.TemporaryDirectory() as tmp:
        csr, ext = Path(tmp) / "req.csr", Path(tmp) / "ext.cnf"
        ext.write_text(extensions(cert))
        _openssl("req", "-new", "-key", str(key), "-subj", _subject(cert.cn, cert.orgs), "-out", str(csr))
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(pki / f"{cert.ca}.crt"), "-CAkey", str(pki / f"{cert.ca}.key"),
            "-CAcreateserial", "-days", str(DAYS), "-extfile", str(ext), "-out", str(crt),
        )


def make_all(node: Node) -> None:
    """Every key and certificate the node needs, in node.pki (which must not exist yet)."""
    pki = node.pki
    pki.mkdir(mode=0o700, parents=True)
    make_ca(pki, "ca", "sessionstack-cluster-ca")
    make_ca(pki, "front-proxy-ca", "sessionstack-front-proxy-ca")
    for cert in certificates(node):
        make_cert(pki, cert)
    _key(pki / "sa.key")
    _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
