#!/bin/sh
# sessionstack: before Redis stops (rolling update, drain, kubectl delete pod), a primary hands its
# role to a replica: the Sentinels promote one and tell the clients (they drop their connections,
# ask the Sentinels again and reach the new primary), so writes wait a second or two instead of
# failing for the down-after-milliseconds a vanished primary costs. A replica just stops.
set -u
# A hook's output is not kept anywhere; Redis's is (the container log): write there.
exec > /proc/1/fd/1 2>&1
. @SCRIPTS_DIR@/sentinel-lib.sh

role=$(cli -h 127.0.0.1 -p "$REDIS_PORT" role | head -n 1)
[ "$role" = master ] || exit 0
# Writes wait (clients see latency, not errors) from here until the Sentinels have promoted a
# replica and told the clients: a write taken here after the promotion would be discarded when this
# pod becomes a replica. The replicas first catch up with everything written so far.
cli -h 127.0.0.1 -p "$REDIS_PORT" client pause @PAUSE_MS@ write > /dev/null
waited=0
while [ "$waited" -lt 50 ]; do
    info=$(cli -h 127.0.0.1 -p "$REDIS_PORT" info replication | tr -d '\r')
    offset=$(echo "$info" | sed -n 's/^master_repl_offset://p')
    echo "$info" | grep -q "^slave[0-9]*:.*offset=$offset," && break
    sleep 0.1
    waited=$((waited + 1))
done
if request_failover && promoted=$(wait_primary_is_not "$ME" @FAILOVER_WAIT_S@); then
    # Still paused: Redis stops next (SIGTERM) without taking another write; its clients reconnect
    # through the Sentinels to the new primary and send what was waiting there.
    log "handed the primary role to $promoted"
else
    log "no failover before stopping; the Sentinels will notice the primary is gone"
    cli -h 127.0.0.1 -p "$REDIS_PORT" client unpause > /dev/null
fi
