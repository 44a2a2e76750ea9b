#!/bin/sh
# sessionstack: forms the Redis Cluster once, from the bootstrap Job: @PODS@ nodes, @PRIMARIES@
# primaries each with one replica, the 16384 slots spread evenly. Idempotent, so the Job can run
# again at any `pulumi up`: a cluster that is formed is left alone; one that is partly formed (a
# node restarting) is waited for; only nodes that all know nobody and serve no slot are joined.
set -eu
. @SCRIPTS_DIR@/cluster-lib.sh
addresses=""
i=0
while [ "$i" -lt "$PODS" ]; do
    host=$(node_host "$i")
    address=$(resolve "$host" 300) || { log "$host does not resolve after 300 s"; exit 1; }
    waited=0
    until [ "$(cli -h "$host" -p "$REDIS_PORT" ping)" = PONG ]; do
        [ "$waited" -lt 300 ] || { log "$host does not answer after 300 s"; exit 1; }
        sleep 2
        waited=$((waited + 2))
    done
    # CLUSTER MEET takes addresses, not names: the Services' ClusterIPs, which the nodes announce.
    addresses="$addresses $address:$REDIS_PORT"
    i=$((i + 1))
done

# "formed": every node knows all the others and sees every slot served; "empty": a node that
# knows only itself and serves no slot (never joined).
census() {
    formed=0
    empty=0
    i=0
    while [ "$i" -lt "$PODS" ]; do
        info=$(cluster_info "$(node_host "$i")")
        known=$(field "$info" cluster_known_nodes)
        assigned=$(field "$info" cluster_slots_assigned)
        [ "$(field "$info" cluster_state)" = ok ] && [ "$known" = "$PODS" ] && [ "$assigned" = 16384 ] && formed=$((formed + 1))
        [ "$known" = 1 ] && [ "$assigned" = 0 ] && empty=$((empty + 1))
        i=$((i + 1))
    done
}

census
if [ "$formed" = "$PODS" ]; then
    log "the cluster is formed already ($PODS nodes, every slot served): nothing to do"
    exit 0
fi
if [ "$empty" = "$PODS" ]; then
    log "forming the cluster from$addresses"
    # shellcheck disable=SC2086 # one argument per address
    redis-cli --no-auth-warning --cluster create $addresses --cluster-replicas 1 --cluster-yes || {
        log "forming the cluster failed (above). A node that holds keys (a volume kept from a store" \
            "in another mode) cannot join a cluster: remove that store's volumes, or use another name"
        exit 1
    }
else
    log "the cluster is partly formed ($formed of $PODS nodes see it whole, $empty never joined): waiting for it"
fi
waited=0
while :; do
    census
    [ "$formed" = "$PODS" ] && break
    if [ "$waited" -ge 300 ]; then
        log "the cluster is not whole after 300 s ($formed of $PODS nodes see every slot served)." \
            "Look with: redis-cli --cluster check $(node_host 0):$REDIS_PORT (REDISCLI_AUTH from the Secret)"
        exit 1
    fi
    sleep 2
    waited=$((waited + 2))
done
log "the cluster is formed: $PODS nodes, every slot served"
