# sessionstack: shell functions shared by start-redis.sh, start-sentinel.sh and pre-stop.sh
# (rendered by components/redis_sentinel_config.py; sourced, never run on its own). POSIX sh: the
# image's /bin/sh is dash. Needs POD_NAME, POD_NAMESPACE and REDIS_PASSWORD from the pod's env.
MASTER_NAME=@MASTER_NAME@
REDIS_PORT=@REDIS_PORT@
SENTINEL_PORT=@SENTINEL_PORT@
PODS=@PODS@
# Every pod is addressed through a Service of its own, named like the pod: a ClusterIP that stays
# when the pod is replaced (Sentinel never resolves a name twice) and reaches the pod even before it
# is ready.
DOMAIN="$POD_NAMESPACE.svc.@CLUSTER_DOMAIN@"
STATEFULSET="${POD_NAME%-*}"
ME="$POD_NAME.$DOMAIN"
# The client Service: whichever Sentinel is ready answers there.
SERVICE="@CLIENT_SERVICE@.$POD_NAMESPACE.svc.@CLUSTER_DOMAIN@"
FIRST="$STATEFULSET-0.$DOMAIN"
export REDISCLI_AUTH="$REDIS_PASSWORD"

log() { echo "sessionstack: $*" >&2; }

# Any Redis or Sentinel answers within milliseconds; a name still pointing at a gone pod never does.
cli() { timeout 2 redis-cli --no-auth-warning "$@" 2>/dev/null; }

# The Service twice (it reaches a ready Sentinel), then every Sentinel by pod name.
sentinel_hosts() {
    echo "$SERVICE"
    echo "$SERVICE"
    i=0
    while [ "$i" -lt "$PODS" ]; do
        echo "$STATEFULSET-$i.$DOMAIN"
        i=$((i + 1))
    done
}

# The primary most Sentinels name, or nothing when none answers (first start of the set). A
# Sentinel that just restarted may still name its first guess, hence the vote, not the first answer.
sentinels_primary() {
    for host in $(sentinel_hosts); do
        answer=$(cli -h "$host" -p "$SENTINEL_PORT" sentinel get-master-addr-by-name "$MASTER_NAME" | head -n 1)
        case "$answer" in *".$DOMAIN") echo "$answer" ;; esac
    done | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }'
}

# Asks the Sentinels to fail over now, a few rounds; true when one accepted.
request_failover() {
    for round in 1 2 3; do
        for host in $(sentinel_hosts); do
            answer=$(cli -h "$host" -p "$SENTINEL_PORT" sentinel failover "$MASTER_NAME") || answer=""
            log "failover requested from ${host%%.*}: ${answer:-no answer}"
            [ "$answer" = OK ] && return 0
            # A refusal (no replica fit to take over, a failover already running) is the same everywhere.
            case "$answer" in -NOGOODSLAVE*|NOGOODSLAVE*|-INPROG*|INPROG*) return 1 ;; esac
        done
        sleep 1
    done
    return 1
}

# True when another pod's Redis is a replica that has received data from a primary (its offset is
# not 0): one the Sentinels could promote without losing what the set holds.
replica_with_data() {
    i=0
    while [ "$i" -lt "$PODS" ]; do
        host="$STATEFULSET-$i.$DOMAIN"
        if [ "$host" != "$ME" ]; then
            info=$(cli -h "$host" -p "$REDIS_PORT" info replication | tr -d '\r')
            case "$info" in *role:slave*)
                offset=$(echo "$info" | sed -n 's/^master_repl_offset://p')
                [ "${offset:-0}" -gt 0 ] && return 0 ;;
            esac
        fi
        i=$((i + 1))
    done
    return 1
}

# True when every Sentinel that answers lists this pod among the replicas it monitors. A failover
# reconfigures only the replicas its leader knows, and a Sentinel learns them from the primary's
# INFO every 10 s: a replica one Sentinel did not know yet kept following the old primary after a
# rolling update moved on a second after it synced, and the promoted primary had no replica for
# 7 s (NOREPLICAS for every write; seen on the cluster).
known_to_every_sentinel() {
    i=0
    while [ "$i" -lt "$PODS" ]; do
        listed=$(cli -h "$STATEFULSET-$i.$DOMAIN" -p "$SENTINEL_PORT" sentinel replicas "$MASTER_NAME")
        case "$listed" in
            ""|ERR*|-ERR*) ;;  # no answer (a pod being replaced), or it monitors nothing yet
            *) echo "$listed" | grep -qx "$ME:$REDIS_PORT" || return 1 ;;
        esac
        i=$((i + 1))
    done
}

# Waits for a Sentinel to name a primary other than $1 (the one that ran the failover does first;
# the others learn it within seconds), $2 rounds of questions half a second apart at most, and
# prints that primary.
wait_primary_is_not() {
    waited=0
    while [ "$waited" -lt "$2" ]; do
        for host in $(sentinel_hosts); do
            answer=$(cli -h "$host" -p "$SENTINEL_PORT" sentinel get-master-addr-by-name "$MASTER_NAME" | head -n 1)
            case "$answer" in "$1"|"") ;; *".$DOMAIN") echo "$answer"; return 0 ;; esac
        done
        sleep 0.5
        waited=$((waited + 1))
    done
    return 1
}

# Waits, $2 rounds half a second apart at most, until no Sentinel names $1 any more and a majority
# name another primary. A client that asks a Sentinel still naming $1 would connect to $1 and, once
# $1 runs as a replica, get READONLY for every write on that connection (a fresh-clone CI run saw a
# restarted primary's own Sentinel, restarted too, do exactly that).
wait_all_name_other_than() {
    waited=0
    while [ "$waited" -lt "$2" ]; do
        agree=0
        stale=0
        i=0
        while [ "$i" -lt "$PODS" ]; do
            answer=$(cli -h "$STATEFULSET-$i.$DOMAIN" -p "$SENTINEL_PORT" sentinel get-master-addr-by-name "$MASTER_NAME" | head -n 1)
            case "$answer" in "$1") stale=$((stale + 1)) ;; *".$DOMAIN") agree=$((agree + 1)) ;; esac
            i=$((i + 1))
        done
        [ "$stale" -eq 0 ] && [ "$agree" -gt $((PODS / 2)) ] && return 0
        sleep 0.5
        waited=$((waited + 1))
    done
    return 1
}

# Waits up to $2 seconds for the name $1 to resolve (Sentinel refuses to start on one that does not).
wait_resolvable() {
    waited=0
    until getent hosts "$1" > /dev/null; do
        [ "$waited" -lt "$2" ] || return 1
        sleep 1
        waited=$((waited + 1))
    done
}
