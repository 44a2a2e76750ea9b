# sessionstack: shell functions shared by the cluster mode's scripts (rendered by
# components/redis_cluster_config.py; sourced, never run on its own). POSIX sh: the image's
# /bin/sh is dash. Needs POD_NAMESPACE and REDIS_PASSWORD from the pod's env.
REDIS_PORT=@REDIS_PORT@
PODS=@PODS@
STATEFULSET=@STATEFULSET@
# Every node is addressed through a Service of its own, named like its pod: a ClusterIP that stays
# when the pod is replaced and reaches it even before it is ready.
DOMAIN="$POD_NAMESPACE.svc.@CLUSTER_DOMAIN@"
export REDISCLI_AUTH="$REDIS_PASSWORD"

log() { echo "sessionstack: $*" >&2; }

# Any node answers within milliseconds; one that does not is away.
cli() { timeout 5 redis-cli --no-auth-warning "$@" 2>/dev/null; }

# The host name of node $1 (its pod's ordinal).
node_host() { echo "$STATEFULSET-$1.$DOMAIN"; }

# The address a name resolves to, waiting up to $2 seconds for the Service to exist.
resolve() {
    waited=0
    while :; do
        address=$(getent hosts "$1" | awk 'NR == 1 { print $1 }')
        [ -n "$address" ] && { echo "$address"; return 0; }
        [ "$waited" -lt "$2" ] || return 1
        sleep 2
        waited=$((waited + 2))
    done
}

# CLUSTER INFO of host $1, one "field value" per line (cluster_state ok, cluster_known_nodes 6, ...).
cluster_info() { cli -h "$1" -p "$REDIS_PORT" cluster info | tr -d '\r' | tr ':' ' '; }

# Field $2 of what cluster_info printed ($1).
field() { echo "$1" | awk -v key="$2" '$1 == key { print $2 }'; }
