#!/usr/bin/env bash
# Builds the Spring Session demo: target/session-demo.war (what the Dockerfile puts into the
# application image that tools/cluster builds for the tests).
# Dependencies come from Maven Central. Idempotent: does nothing when the WAR is newer than
# pom.xml and every source file. Set FORCE=1 to rebuild anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

war=target/session-demo.war
exploded=target/session-demo
if [ "${FORCE:-0}" != 1 ] && [ -f "$war" ] && [ -f "$exploded/WEB-INF/classes/io/sessionstack/demo/CounterServlet.class" ] \
    && [ -z "$(find pom.xml src -newer "$war" -print -quit)" ]; then
    echo "spring-session-demo: $war is up to date"
    exit 0
fi

command -v mvn >/dev/null || { echo "spring-session-demo: mvn not found (apt-get install -y maven)" >&2; exit 1; }
start=$(date +%s)
log="$(mktemp)"
# Quiet unless it fails (mvn -q still writes terminal escapes on some setups).
if ! nice mvn -q -B -Dstyle.color=never package > "$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "spring-session-demo: mvn package failed" >&2
    exit 1
fi
rm -f "$log"
[ -f "$war" ] || { echo "spring-session-demo: mvn finished but $war is missing" >&2; exit 1; }
echo "spring-session-demo: built $war ($(du -k "$war" | cut -f1) KiB) in $(( $(date +%s) - start )) s"
