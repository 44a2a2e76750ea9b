#!/bin/bash
# Prerequisites of the Redis real-server tests and the Redis-vs-Infinispan benchmark: everything
# tests/realservers/setup.sh installs (network namespaces, redis-server, WildFly), then
# the Spring Session demo WAR (apps/spring-session-demo/build.sh, from Maven Central).
# Idempotent; a warm run takes about a second.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
bash "$REPO/tests/realservers/setup.sh" > /dev/null
"$REPO/apps/spring-session-demo/build.sh"
