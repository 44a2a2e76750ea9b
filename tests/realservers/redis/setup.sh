#!/bin/bash
# Prerequisites of the Redis real-server tests and the Redis-vs-Infinispan benchmark, on top of
# tests/realservers/setup.sh (network namespaces, nginx, redis-server, WildFly):
#   - Debian packages redis-server (the server the tests run) and nftables (enforces the
#     rendered NetworkPolicy inside the Redis "pod");
#   - the Spring Session demo WAR (apps/spring-session-demo/build.sh, Maven Central).
# Idempotent; a warm run takes about a second.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"

declare -A PACKAGES=([redis-server]=/usr/bin/redis-server [nftables]=/usr/sbin/nft)
missing=()
for pkg in "${!PACKAGES[@]}"; do
    [ -x "${PACKAGES[$pkg]}" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "redis setup: installing ${missing[*]}" >&2
    # Keep Debian from starting the packaged daemons: the tests run their own instances.
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

"$REPO/apps/spring-session-demo/build.sh"
