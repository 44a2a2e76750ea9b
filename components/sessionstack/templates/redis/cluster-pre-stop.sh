#!/bin/sh
# sessionstack: a leaving primary hands its slots to its replica before Redis stops. CLUSTER
# FAILOVER, sent to the replica, is the coordinated kind: the primary holds its clients' writes,
# the replica catches up with every one it acknowledged, then takes over, and the old primary
# answers its clients with MOVED to the new one. Nothing acknowledged is lost, clients see a pause.
set -u
# A hook's output is not kept anywhere; Redis's is (the container log): write there.
exec > /proc/1/fd/1 2>&1
. @SCRIPTS_DIR@/cluster-lib.sh
[ "$(cli -p "$REDIS_PORT" role | head -n 1)" = master ] || exit 0
myid=$(cli -p "$REDIS_PORT" cluster myid)
# CLUSTER REPLICAS: a line per replica, its address field ending in ",<host name>"; a healthy one.
replica=$(cli -p "$REDIS_PORT" cluster replicas "$myid" | awk '$3 !~ /fail|handshake|noaddr/ { n = split($2, a, ","); if (n > 1) { print a[2]; exit } }')
if [ -z "$replica" ]; then
    log "primary without a healthy replica: stopping without a handover"
    exit 0
fi
log "handing the primary role to ${replica%%.*}"
answer=$(cli -h "$replica" -p "$REDIS_PORT" cluster failover)
log "CLUSTER FAILOVER on ${replica%%.*}: ${answer:-no answer}"
waited=0
while [ "$waited" -lt @FAILOVER_WAIT_S@ ]; do
    if [ "$(cli -p "$REDIS_PORT" role | head -n 1)" = slave ]; then
        log "handed over to ${replica%%.*}"
        exit 0
    fi
    sleep 1
    waited=$((waited + 1))
done
log "still the primary after @FAILOVER_WAIT_S@ s; stopping anyway (the replica takes over when the cluster finds this node gone)"
