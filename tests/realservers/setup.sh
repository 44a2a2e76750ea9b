#!/bin/bash
# Installs what the real-server tier needs, idempotently (fast when everything is there):
#   - Debian packages: iproute2 (network namespaces), nginx, apache2, redis-server, openssl,
#     util-linux, procps;
#   - the WildFly distribution of the pinned release (scripts/wildfly-dist: Maven Central,
#     unpacked once into $SESSIONSTACK_CACHE, default /var/cache/sessionstack).
# Prints the WildFly home on the last line. Needs root (apt-get) unless all packages exist.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

bash "$REPO/scripts/apt-ensure" iproute2=/usr/sbin/ip nginx=/usr/sbin/nginx apache2=/usr/sbin/apache2 \
    redis-server=/usr/bin/redis-server openssl=/usr/bin/openssl util-linux=/usr/bin/unshare \
    procps=/usr/bin/pkill
bash "$REPO/scripts/wildfly-dist"
