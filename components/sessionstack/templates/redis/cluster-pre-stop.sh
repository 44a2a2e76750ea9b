#!/bin/sh
# sessionstack: a leaving primary hands its slots to its replica before Redis stops. CLUSTER
# FAILOVER, sent to the replica, is the coordinated kind: the primary holds its clients' writes,
# the replica catches up with every one it acknowledged, then takes over, and the old primary
# answers its clients with MOVED to the new one. Nothing acknowledged is lost, clients see a pause.
# Then Redis stops only once its clients have moved on (see clients_moved).
set -u
# A hook's output is not kept anywhere; Redis's is (the container log): write there.
exec > /proc/1/fd/1 2>&1
. @SCRIPTS_DIR@/cluster-lib.sh

# The redirects (MOVED) this node has answered since it started; empty if it does not answer.
redirects() { cli -p "$REDIS_PORT" info errorstats | tr -d '\r' | sed -n 's/^errorstat_MOVED:count=\([0-9]*\).*/\1/p'; }

# Clients keep sending the handed-over slots' commands here, answered with MOVED, until they renew
# their view of the cluster (a redirect makes a cluster client such as Lettuce do so). A client
# shares one connection per node among its threads, so whatever is in flight on it when Redis
# stops fails with the connection: measured before this wait, 2 to 22 failed requests per rolling
# restart under 50 sessions. So wait until no redirect has been answered for
# @QUIET_S@ s, at most @DRAIN_WAIT_S@ s (a client that renews its view less often is cut off then).
# $1: redirects answered before the handover.
clients_moved() {
    last=$1; quiet=0; ticks=0
    while [ "$ticks" -lt $((@DRAIN_WAIT_S@ * 2)) ]; do
        sleep 0.5
        ticks=$((ticks + 1))
        now=$(redirects); now=${now:-$last}
        if [ "$now" = "$last" ]; then quiet=$((quiet + 1)); else quiet=0; last=$now; fi
        if [ "$quiet" -ge $((@QUIET_S@ * 2)) ]; then
            log "clients moved on: $((last - $1)) redirects answered, none in the last @QUIET_S@ s ($((ticks / 2)).$((ticks % 2 * 5)) s)"
            return 0
        fi
    done
    log "clients still redirected here after @DRAIN_WAIT_S@ s ($((last - $1)) redirects answered); stopping anyway"
}

[ "$(cli -p "$REDIS_PORT" role | head -n 1)" = master ] || exit 0
myid=$(cli -p "$REDIS_PORT" cluster myid)
# CLUSTER REPLICAS: a line per replica, its address field ending in ",<host name>"; a healthy one.
replica=$(cli -p "$REDIS_PORT" cluster replicas "$myid" | awk '$3 !~ /fail|handshake|noaddr/ { n = split($2, a, ","); if (n > 1) { print a[2]; exit } }')
if [ -z "$replica" ]; then
    log "primary without a healthy replica: stopping without a handover"
    exit 0
fi
log "handing the primary role to ${replica%%.*}"
before=$(redirects)
answer=$(cli -h "$replica" -p "$REDIS_PORT" cluster failover)
log "CLUSTER FAILOVER on ${replica%%.*}: ${answer:-no answer}"
waited=0
while [ "$waited" -lt @FAILOVER_WAIT_S@ ]; do
    if [ "$(cli -p "$REDIS_PORT" role | head -n 1)" = slave ]; then
        log "handed over to ${replica%%.*}"
        clients_moved "${before:-0}"
        exit 0
    fi
    sleep 1
    waited=$((waited + 1))
done
log "still the primary after @FAILOVER_WAIT_S@ s; stopping anyway (the replica takes over when the cluster finds this node gone)"
