#!/usr/bin/env bash
# Build (once) the Pulumi engine this project runs: the pulumi CLI, a Python language host and the
# Kubernetes resource provider, from the Go module proxy with the machine's Go.
#
#   tools/engine/build.sh            build what is missing; print the bin dir to put on PATH
#   tools/engine/build.sh --status   print what would be used, build nothing (exit 1 if a build is needed)
#
# Builds are cached outside the repo, keyed by version and by a hash of the wrapper modules, so a
# warm run only hashes a few files:
#   $cache/components/<component>-<version>-<hash>/bin   what one `go build` produced
#   $cache/<pulumi-version>_<kubernetes-version>-<hash>/bin   symlinks to all of it: the one dir to
#                                                           put on PATH (printed on stdout)
# with $cache = ${SESSIONSTACK_ENGINE_CACHE:-~/.cache/sessionstack/engine}. A pulumi already on
# PATH that reports a version listed in PULUMI_ACCEPTED_ON_PATH (versions.env) is linked instead of
# building the CLI (with its own bundled language host when it has one next to it).
# Knobs: ENGINE_BUILD_JOBS (go build -p, default 2), SESSIONSTACK_PULUMI_FROM_PATH=0 to never use
# a pulumi found on PATH.
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

log() { echo "engine: $*" >&2; }

command -v go >/dev/null || { log "go is not on PATH; install Go (>= 1.25) first"; exit 1; }

cache_root="${SESSIONSTACK_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sessionstack/engine}"
mkdir -p "$cache_root/components"

go_version="$(go env GOVERSION)"
export GOTOOLCHAIN=local              # never download another toolchain
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
jobs="${ENGINE_BUILD_JOBS:-2}"

# hash_of LABEL FILE... : short hash of a label (the versions), the Go release and the wrapper sources.
hash_of() {
  local label="$1"
  shift
  { printf '%s\n' "$label" "$go_version"; cat "$@"; } | sha256sum | cut -c1-12
}

# --- decide what is needed ------------------------------------------------------------------
path_pulumi=""
path_langhost=""
# The first pulumi on PATH outside our cache (env.sh puts our own bin dir first).
first_pulumi_on_path() {
  local d
  local IFS=:
  for d in $PATH; do
    case "$d" in "$cache_root"/*|"$here"|"") continue ;; esac  # nor our wrapper script
    if [[ -x "$d/pulumi" && ! -d "$d/pulumi" ]]; then echo "$d/pulumi"; return; fi
  done
}
if [[ "${SESSIONSTACK_PULUMI_FROM_PATH:-1}" != 0 ]]; then
  p="$(first_pulumi_on_path)"
  if [[ -n "$p" ]]; then
    v="$("$p" version 2>/dev/null || true)"
    v="${v#v}"
    for accepted in $PULUMI_ACCEPTED_ON_PATH; do
      if [[ "$v" == "$accepted" ]]; then
        path_pulumi="$p"
        real="$(readlink -f "$p")"
        [[ -x "$(dirname "$real")/pulumi-language-python" ]] && path_langhost=yes
      fi
    done
  fi
fi

pulumi_hash="$(hash_of "$PULUMI_CLI_VERSION $RANDOM_PROVIDER_VERSION" "$here/cli/go.mod" "$here/cli/go.sum" "$here"/cli/cmd/*/*.go)"
k8s_hash="$(hash_of "$KUBERNETES_PROVIDER_VERSION $KUBERNETES_PLUGIN_VERSION" "$here/kubernetes/go.mod" "$here/kubernetes/go.sum" "$here/kubernetes/main.go")"

if [[ -z "$path_pulumi" ]]; then
  pulumi_component="pulumi-$PULUMI_CLI_VERSION-$pulumi_hash"
  pulumi_pkgs=(github.com/pulumi/pulumi/pkg/v3/cmd/pulumi ./cmd/pulumi-language-python ./cmd/pulumi-resource-random)
elif [[ -z "$path_langhost" ]]; then
  pulumi_component="langhost-$PULUMI_CLI_VERSION-$pulumi_hash"
  pulumi_pkgs=(./cmd/pulumi-language-python ./cmd/pulumi-resource-random)
else
  pulumi_component="random-$RANDOM_PROVIDER_VERSION-$pulumi_hash"
  pulumi_pkgs=(./cmd/pulumi-resource-random)
fi
k8s_component="kubernetes-$KUBERNETES_PROVIDER_VERSION-$k8s_hash"

built() { [[ -f "$cache_root/components/$1/bin/BUILDINFO" ]]; }

if [[ "$mode" == status ]]; then
  [[ -n "$path_pulumi" ]] && log "pulumi from PATH: $path_pulumi ($("$path_pulumi" version))"
  need=0
  for c in "$pulumi_component" "$k8s_component"; do
    if built "$c"; then log "cached: $cache_root/components/$c"; else log "to build: $c"; need=1; fi
  done
  exit "$need"
fi

# --- build -----------------------------------------------------------------------------------
exec 9>"$cache_root/.lock"
flock 9  # one build at a time; a second caller waits, then finds the cache warm

build_pulumi() {
  local dest="$cache_root/components/$pulumi_component" tmp start
  tmp="$(mktemp -d "$cache_root/components/.tmp-pulumi.XXXXXX")"
  start=$SECONDS
  log "building ${pulumi_pkgs[*]} (pulumi $PULUMI_CLI_VERSION) into $dest"
  mkdir -p "$tmp/bin"
  (cd "$here/cli" && nice -n 10 go build -p "$jobs" -o "$tmp/bin/" \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_CLI_VERSION -X main.version=$PULUMI_CLI_VERSION+sessionstack -X main.providerVersion=$RANDOM_PROVIDER_VERSION" \
      "${pulumi_pkgs[@]}")
  if [[ -x "$tmp/bin/pulumi-language-python" ]]; then
    local sdk_dir
    sdk_dir="$(cd "$here/cli" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
    install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$tmp/bin/"
  fi
  printf 'pulumi %s (cli: %s)\ngo %s\nbuilt in %ss\n' "$PULUMI_CLI_VERSION" \
    "$([[ -z "$path_pulumi" ]] && echo built || echo "$path_pulumi")" "$go_version" \
    "$((SECONDS - start))" >"$tmp/bin/BUILDINFO"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  log "pulumi component built in $((SECONDS - start))s"
}

build_kubernetes() {
  local dest="$cache_root/components/$k8s_component" tmp start mod_dir
  tmp="$(mktemp -d "$cache_root/components/.tmp-kubernetes.XXXXXX")"
  start=$SECONDS
  log "building pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION into $dest"
  # go:embed only reads files inside the package, and the provider's own main embeds generated
  # files that its module zip does not ship: build our main in a scratch copy next to the schema.
  mkdir -p "$tmp/src" "$tmp/bin"
  cp "$here/kubernetes/go.mod" "$here/kubernetes/go.sum" "$here/kubernetes/main.go" "$tmp/src/"
  (cd "$tmp/src" && go mod download github.com/pulumi/pulumi-kubernetes/provider/v4)
  mod_dir="$(cd "$tmp/src" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)"
  python3 - "$mod_dir/cmd/pulumi-resource-kubernetes" "$tmp/src" "$KUBERNETES_PLUGIN_VERSION" <<'PY'
import json, sys
src, out, version = sys.argv[1:]
schema = json.load(open(f"{src}/schema.json"))
schema["version"] = version  # what upstream's generate.go does with $VERSION
with open(f"{out}/schema-embed.json", "w") as f:
    json.dump(schema, f, separators=(",", ":"))
with open(f"{out}/terraform-mapping-embed.json", "w") as f:
    json.dump(json.load(open(f"{src}/terraform-mapping.json")), f, separators=(",", ":"))
PY
  (cd "$tmp/src" && nice -n 10 go build -p "$jobs" -o "$tmp/bin/pulumi-resource-kubernetes" \
      -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PLUGIN_VERSION" .)
  rm -rf "$tmp/src"
  printf 'pulumi-resource-kubernetes %s\ngo %s\nbuilt in %ss\n' "$KUBERNETES_PROVIDER_VERSION" \
    "$go_version" "$((SECONDS - start))" >"$tmp/bin/BUILDINFO"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  log "kubernetes component built in $((SECONDS - start))s"
}

if ! built "$pulumi_component"; then build_pulumi; fi
if ! built "$k8s_component"; then build_kubernetes; fi

# --- the bin dir for PATH, and the providers as plugins -----------------------------------------
# pulumi finds its bundled language host next to the resolved binary, our language host finds its
# driver script next to itself. The providers are not on PATH (ambient plugins make the CLI warn
# on every run): ../plugins holds them in the layout of a plugin cache, which link-plugins puts
# into a PULUMI_HOME.
link_key="$(printf '%s\n' "$pulumi_component" "$k8s_component" "$path_pulumi" "$(grep '^pulumi-' "$here/../../requirements.txt")" | sha256sum | cut -c1-12)"
combined="$cache_root/pulumi-${PULUMI_CLI_VERSION}_kubernetes-${KUBERNETES_PROVIDER_VERSION}-$link_key"
if [[ ! -f "$combined/bin/.complete" ]]; then
  rm -rf "$combined"
  mkdir -p "$combined/bin" "$combined/plugins"
  for f in "$cache_root/components/$pulumi_component/bin/"pulumi*; do
    case "$(basename "$f")" in pulumi-resource-*) continue ;; esac
    ln -s "$f" "$combined/bin/"
  done
  if [[ -n "$path_pulumi" ]]; then ln -s "$(readlink -f "$path_pulumi")" "$combined/bin/pulumi"; fi
  sdk_version() { sed -n "s/^pulumi-$1==//p" "$here/../../requirements.txt"; }
  plugin() {  # name version binary
    mkdir -p "$combined/plugins/resource-$1-v$2"
    ln -s "$3" "$combined/plugins/resource-$1-v$2/pulumi-resource-$1"
  }
  plugin kubernetes "$(sdk_version kubernetes)" "$cache_root/components/$k8s_component/bin/pulumi-resource-kubernetes"
  plugin random "$(sdk_version random)" "$cache_root/components/$pulumi_component/bin/pulumi-resource-random"
  touch "$combined/bin/.complete"
fi
echo "$combined/bin"
