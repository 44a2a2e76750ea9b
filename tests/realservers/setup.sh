#!/bin/bash
# Installs what the real-server tier needs, idempotently (fast when everything is there):
#   - Debian packages: iproute2 (network namespaces), nginx, apache2, redis-server, openssl,
#     util-linux, procps, nftables (enforces a rendered NetworkPolicy inside a "pod");
#   - the WildFly distribution of the pinned release from Maven Central
#     (org.wildfly:wildfly-dist:<version>:tar.gz into the local Maven repository), unpacked
#     once into $SESSIONSTACK_CACHE (default /var/cache/sessionstack).
# Prints the WildFly home on the last line. Needs root (apt-get) unless all packages exist.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
WILDFLY_VERSION="$(cd "$REPO" && "$PY" -c 'from components.wildfly_config import WILDFLY_VERSION; print(WILDFLY_VERSION)')"
# World-readable (not under /root): the "pods" run as the image's non-root uid.
CACHE="${SESSIONSTACK_CACHE:-/var/cache/sessionstack}"
WILDFLY_HOME="$CACHE/wildfly-$WILDFLY_VERSION"

# Package -> a file it installs (dpkg -s alone does not notice a half-removed package).
declare -A PACKAGES=(
    [iproute2]=/usr/sbin/ip
    [nginx]=/usr/sbin/nginx
    [apache2]=/usr/sbin/apache2
    [redis-server]=/usr/bin/redis-server
    [openssl]=/usr/bin/openssl
    [util-linux]=/usr/bin/unshare
    [procps]=/usr/bin/pkill
    [nftables]=/usr/sbin/nft
)
missing=()
for pkg in "${!PACKAGES[@]}"; do
    [ -x "${PACKAGES[$pkg]}" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    # Debian starts services on install; the tests run their own instances in namespaces,
    # so keep the packaged daemons from starting (and binding ports on the machine).
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod +x "$policy"
        created_policy=1
    fi
    trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -x "$WILDFLY_HOME/bin/standalone.sh" ]; then
    artifact="org.wildfly:wildfly-dist:$WILDFLY_VERSION:tar.gz"
    repo_local="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}"
    tarball="$repo_local/org/wildfly/wildfly-dist/$WILDFLY_VERSION/wildfly-dist-$WILDFLY_VERSION.tar.gz"
    if [ ! -s "$tarball" ]; then
        echo "setup: fetching $artifact from Maven Central" >&2
        mvn -B -q dependency:get "-Dartifact=$artifact" -Dtransitive=false "-Dmaven.repo.local=$repo_local" >&2
    fi
    mkdir -p "$CACHE"
    tmp="$(mktemp -d "$CACHE/.unpack.XXXXXX")"
    tar --no-same-owner -xzf "$tarball" -C "$tmp"
    chmod -R go-w,a+rX "$tmp"
    rm -rf "$WILDFLY_HOME"
    mv "$tmp/wildfly-$WILDFLY_VERSION" "$WILDFLY_HOME"
    rmdir "$tmp"
fi
echo "$WILDFLY_HOME"
