#!/bin/bash
# sessionstack WildFly entrypoint (ConfigMap <name>-scripts, mounted at /opt/sessionstack/bin).
#
# 1. copy the image's standalone/ dir to a writable base dir (the root filesystem may be
#    read-only and the uid is not root);
# 2. apply configure.cli to that copy offline (embed-server), so the server boots already
#    configured and never needs a reload;
# 3. lay out the demo app (exploded WAR) when DEMO_APP_DIR is set;
# 4. exec standalone.sh with the container args plus a per-pod node name and a graceful
#    SIGTERM suspend timeout, so tracked in-flight work finishes and sessions are handed off
#    (with Infinispan sessions the request controller is removed: HTTP requests finish during
#    the preStop delay instead, configure-infinispan.cli says why).
#
# Environment: JBOSS_HOME (the WildFly installation), POD_NAME, SERVER_BASE_DIR,
# DEMO_APP_DIR (optional), SUSPEND_TIMEOUT_SECONDS (optional). Everything else
# (POD_IP, JGROUPS_*, KUBERNETES_LABELS, ...) is read by the server through ${env.*}.
set -euo pipefail

: "${JBOSS_HOME:?JBOSS_HOME must point at the WildFly installation}"
SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVER_BASE_DIR="${SERVER_BASE_DIR:-/var/sessionstack/server}"
SUSPEND_TIMEOUT_SECONDS="${SUSPEND_TIMEOUT_SECONDS:-@SUSPEND_TIMEOUT_SECONDS@}"

# jboss.node.name must be unique per pod (it names the JGroups member and the Undertow
# route) and at most 23 bytes (transaction manager node identifier). Pod names of a
# Deployment are often longer, so long names become <first 14 chars>-<8 hex of md5>.
# components/wildfly_config.py node_name() mirrors this; tests compare the two.
node_name() {
    local pod="$1"
    if [ "${#pod}" -le 23 ]; then
        printf '%s\n' "$pod"
        return
    fi
    local head="${pod:0:14}"
    while [ "${head%-}" != "$head" ]; do head="${head%-}"; done
    local hash
    hash="$(printf '%s' "$pod" | md5sum | cut -c1-8)"
    printf '%s-%s\n' "$head" "$hash"
}

POD_NAME="${POD_NAME:-$(hostname)}"
NODE_NAME="$(node_name "$POD_NAME")"

# A container restart keeps the emptyDir: start from a clean copy so configure.cli
# (which adds resources) always runs against the image's pristine configuration.
mkdir -p "$SERVER_BASE_DIR"
find "$SERVER_BASE_DIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
cp -R "$JBOSS_HOME/standalone/." "$SERVER_BASE_DIR/"
# The copy only: the emptyDir itself belongs to root (the kubelet gives the pod's fsGroup write
# access to it, not ownership), so the pod user may not chmod it.
find "$SERVER_BASE_DIR" -mindepth 1 -exec chmod u+w {} +
mkdir -p "$SERVER_BASE_DIR/tmp" "$SERVER_BASE_DIR/log" "$SERVER_BASE_DIR/data"

echo "sessionstack: configuring $SERVER_BASE_DIR with $SCRIPTS_DIR/configure.cli (node $NODE_NAME)"
# HOME may be read-only: keep the CLI history out of it.
JAVA_OPTS="-Djava.io.tmpdir=$SERVER_BASE_DIR/tmp -Duser.home=$SERVER_BASE_DIR/tmp" \
    "$JBOSS_HOME/bin/jboss-cli.sh" \
    "-Djboss.server.base.dir=$SERVER_BASE_DIR" \
    "--file=$SCRIPTS_DIR/configure.cli"
# The embedded server leaves its boot-time state behind; the real server starts fresh.
rm -rf "$SERVER_BASE_DIR/configuration/standalone_xml_history" \
       "$SERVER_BASE_DIR/data/"* "$SERVER_BASE_DIR/tmp/"*

if [ -n "${DEMO_APP_DIR:-}" ]; then
    if [ ! -d "$DEMO_APP_DIR" ]; then
        echo "sessionstack: DEMO_APP_DIR=$DEMO_APP_DIR is not a directory" >&2
        exit 1
    fi
    war="$SERVER_BASE_DIR/deployments/session-demo.war"
    mkdir -p "$war"
    # -L: a ConfigMap volume is a tree of symlinks into ..data/.
    cp -RL "$DEMO_APP_DIR/." "$war/"
    find "$war" -name '..*' -prune -exec rm -rf {} +
    touch "$SERVER_BASE_DIR/deployments/session-demo.war.dodeploy"
fi

# Relay SIGTERM from PID 1 to the JVM (standalone.sh runs it in the background and waits).
export LAUNCH_JBOSS_IN_BACKGROUND=true
exec "$JBOSS_HOME/bin/standalone.sh" "$@" \
    "-Djboss.server.base.dir=$SERVER_BASE_DIR" \
    "-Djboss.node.name=$NODE_NAME" \
    "-Djboss.tx.node.id=$NODE_NAME" \
    "-Dorg.wildfly.sigterm.suspend.timeout=$SUSPEND_TIMEOUT_SECONDS"
