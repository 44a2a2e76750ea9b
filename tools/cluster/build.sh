#!/usr/bin/env bash
# Build (once) the programs of the single-node Kubernetes that tools/cluster runs: etcd, the
# Kubernetes binaries, CoreDNS, local-path-provisioner, kube-router and Envoy Gateway (with its Helm chart), from the Go module proxy with the
# machine's Go (versions.env names them; each wrapper module's go.mod and go.sum pin them).
#
#   tools/cluster/build.sh            build what is missing; print the bin dir (and nothing else)
#   tools/cluster/build.sh --status   say what is cached / would be built (exit 1 if a build is needed)
#
# Cached outside the repo, keyed by version and by a hash of the wrapper module, like tools/engine:
#   $cache/components/<name>-<version>-<hash>/bin   what one `go build` produced
#   $cache/bin-<hash>/                             symlinks to all of it (printed on stdout)
# with $cache = ${SESSIONSTACK_CLUSTER_CACHE:-~/.cache/sessionstack/cluster}.
# Knob: CLUSTER_BUILD_JOBS (go build -p, default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"

mode=build
case "${1:-}" in
  "") ;;
  --status) mode=status ;;
  *) echo "usage: $0 [--status]" >&2; exit 2 ;;
esac

log() { echo "cluster-build: $*" >&2; }
command -v go >/dev/null || { log "go is not on PATH; install Go (>= 1.26) first"; exit 1; }

cache_root="${SESSIONSTACK_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sessionstack/cluster}"
mkdir -p "$cache_root/components"
go_version="$(go env GOVERSION)"
export GOTOOLCHAIN=local            # never download another toolchain
export GOFLAGS="-mod=readonly"      # go.sum pins every module; a missing hash is an error
export CGO_ENABLED=0                # static binaries: they run inside images without a libc too
jobs="${CLUSTER_BUILD_JOBS:-2}"

# name|version|module dir|ldflags|output:package ... (output "" = go build's own name)|module:file ...
# The last field names files of the upstream modules (manifests, charts) copied into share/.
k8s_ldflags() {
  local v="${KUBERNETES_VERSION#v}"
  printf '%s ' -s -w \
    "-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION" \
    "-X k8s.io/component-base/version.gitMajor=${v%%.*}" \
    "-X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$v")" \
    "-X k8s.io/component-base/version.gitTreeState=clean" \
    "-X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
}
COMPONENTS=(
  "kubernetes|$KUBERNETES_VERSION|kubernetes|$(k8s_ldflags)|:k8s.io/kubernetes/cmd/kube-apiserver :k8s.io/kubernetes/cmd/kube-controller-manager :k8s.io/kubernetes/cmd/kube-scheduler :k8s.io/kubernetes/cmd/kubelet :k8s.io/kubernetes/cmd/kube-proxy :k8s.io/kubernetes/cmd/kubectl|k8s.io/kubernetes:cluster/addons/dns/coredns/coredns.yaml.base"
  "etcd|$ETCD_VERSION|etcd|-s -w|etcd:go.etcd.io/etcd/server/v3|"
  "coredns|$COREDNS_VERSION|coredns|-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION|coredns:.|"
  "kube-router|$KUBE_ROUTER_VERSION|kube-router|-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION|kube-router:github.com/cloudnativelabs/kube-router/v2/cmd/kube-router|"
  "envoy-gateway|$ENVOY_GATEWAY_VERSION|envoy-gateway|-s -w -X github.com/envoyproxy/gateway/internal/cmd/version.envoyGatewayVersion=$ENVOY_GATEWAY_VERSION|envoy-gateway:github.com/envoyproxy/gateway/cmd/envoy-gateway|github.com/envoyproxy/gateway:charts/gateway-helm"
  "local-path-provisioner|$LOCAL_PATH_PROVISIONER_VERSION|local-path-provisioner|-s -w -X main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION|local-path-provisioner:github.com/rancher/local-path-provisioner|github.com/rancher/local-path-provisioner:deploy/local-path-storage.yaml"
)

# The chart as Envoy Gateway's release makes it (tools/make/helm.mk upstream): values.yaml from
# values.tmpl.yaml with the release's image and pull policy, version and appVersion set.
package_gateway_chart() {
  python3 - "$1" "$ENVOY_GATEWAY_VERSION" <<'PY'
import pathlib, re, sys
chart, version = pathlib.Path(sys.argv[1]), sys.argv[2]
values = (chart / "values.tmpl.yaml").read_text()
values = values.replace("${GatewayImage}", f"docker.io/envoyproxy/gateway:{version}").replace("${GatewayImagePullPolicy}", "IfNotPresent")
left = re.findall(r"\$\{\w+\}", values)
if left:
    sys.exit(f"gateway-helm: unknown placeholders in values.tmpl.yaml: {left}")
(chart / "values.yaml").write_text(values)
meta = (chart / "Chart.yaml").read_text()
meta, n1 = re.subn(r"(?m)^version: .*$", f"version: {version}", meta)
meta, n2 = re.subn(r"(?m)^appVersion: .*$", f'appVersion: "{version}"', meta)
if (n1, n2) != (1, 1):
    sys.exit("gateway-helm: Chart.yaml has no single version/appVersion line")
(chart / "Chart.yaml").write_text(meta)
PY
}

component_dir() {  # the cache dir of one component line
  local name version mod ldflags outputs shares
  IFS='|' read -r name version mod ldflags outputs shares <<<"$1"
  local hash
  hash="$({ printf '%s\n' "$version" "$go_version" "$ldflags" "$outputs" "$shares"; [[ "$name" != envoy-gateway ]] || declare -f package_gateway_chart; cat "$here/$mod/go.mod" "$here/$mod/go.sum"; find "$here/$mod" -maxdepth 1 -name "*.go" | sort | xargs -r cat; } | sha256sum | cut -c1-12)"
  echo "$cache_root/components/$name-$version-$hash"
}
built() { [[ -f "$1/bin/BUILDINFO" ]]; }

if [[ "$mode" == status ]]; then
  need=0
  for c in "${COMPONENTS[@]}"; do
    d="$(component_dir "$c")"
    if built "$d"; then log "cached: $d"; else log "to build: $d"; need=1; fi
  done
  exit "$need"
fi

exec 9>"$cache_root/.lock"
flock 9  # one build at a time; a second caller waits, then finds the cache warm

build_component() {
  local line="$1" name version mod ldflags outputs shares dest tmp start out pkg share mod_dir
  IFS='|' read -r name version mod ldflags outputs shares <<<"$line"
  dest="$(component_dir "$line")"
  tmp="$(mktemp -d "$cache_root/components/.tmp-$name.XXXXXX")"
  chmod 755 "$tmp"
  start=$SECONDS
  log "building $name $version into $dest"
  mkdir -p "$tmp/bin"
  local named=() unnamed=()
  for out in $outputs; do
    if [[ "${out%%:*}" == "" ]]; then unnamed+=("${out#*:}"); else named+=("$out"); fi
  done
  # One `go build` for several mains shares the compiled packages between them.
  if ((${#unnamed[@]})); then
    (cd "$here/$mod" && nice -n 10 go build -p "$jobs" -trimpath -ldflags "$ldflags" -o "$tmp/bin/" "${unnamed[@]}")
  fi
  for out in "${named[@]}"; do
    pkg="${out#*:}"
    (cd "$here/$mod" && nice -n 10 go build -p "$jobs" -trimpath -ldflags "$ldflags" -o "$tmp/bin/${out%%:*}" "$pkg")
  done
  for share in $shares; do
    mod_dir="$(cd "$here/$mod" && go mod download "${share%%:*}" && go list -m -f '{{.Dir}}' "${share%%:*}")"
    mkdir -p "$tmp/share"
    cp -R "$mod_dir/${share#*:}" "$tmp/share/"
    chmod -R u+w "$tmp/share"
  done
  [[ "$name" != envoy-gateway ]] || package_gateway_chart "$tmp/share/gateway-helm"
  printf '%s %s\ngo %s\nbuilt in %ss\n' "$name" "$version" "$go_version" "$((SECONDS - start))" >"$tmp/bin/BUILDINFO"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  log "$name built in $((SECONDS - start))s"
}

dirs=()
for c in "${COMPONENTS[@]}"; do
  d="$(component_dir "$c")"
  built "$d" || build_component "$c"
  dirs+=("$d")
done

# The one dir for PATH: symlinks to every component's binaries; ../share holds the upstream files.
link_key="$(printf '%s\n' "${dirs[@]}" | sha256sum | cut -c1-12)"
combined="$cache_root/set-$link_key"
if [[ ! -f "$combined/.complete" ]]; then
  rm -rf "$combined"
  mkdir -p "$combined/bin" "$combined/share"
  for d in "${dirs[@]}"; do
    for f in "$d"/bin/* "$d"/share/*; do
      [[ -e "$f" && "$(basename "$f")" != BUILDINFO ]] || continue
      ln -s "$f" "$combined/$(basename "$(dirname "$f")")/"
    done
  done
  touch "$combined/.complete"
fi
echo "$combined/bin"
