#!/bin/sh
# sessionstack: start Redis as the primary, or as a replica of the primary the Sentinels name.
set -eu
. @SCRIPTS_DIR@/sentinel-lib.sh

primary=$(sentinels_primary)
if [ -z "$primary" ] && [ -d @DATA_DIR@/appendonlydir ]; then
    # No Sentinel answers, but this pod has run before (it has an append-only file): this is not
    # the set's first start, and starting as a primary on a guess could split the set in two (writes
    # taken here would be discarded when the Sentinels turn it into a replica). Wait for them.
    log "no Sentinel answers yet; waiting for them (up to @SENTINEL_WAIT_S@ s)"
    waited=0
    while [ -z "$primary" ] && [ "$waited" -lt @SENTINEL_WAIT_S@ ]; do
        sleep 2
        waited=$((waited + 2))
        primary=$(sentinels_primary)
    done
fi
if [ "$primary" = "$ME" ]; then
    # The Sentinels still name this pod the primary while its Redis is only starting: it crashed
    # (kill -9, out of memory) and came back before they noticed. Its append-only file may lack the
    # last second of writes that the replicas already received, so a replica takes over first and
    # this pod rejoins as its replica. With no replica that holds data (the set's first start, a
    # standalone store becoming a sentinel set) it starts as the primary from its append-only file.
    if replica_with_data; then
        log "the Sentinels name this pod the primary; asking them to promote a replica first"
        # The Sentinel that ran the failover names the promoted replica first; the others (asked by
        # sentinels_primary) may still name this pod for a moment.
        if request_failover && promoted=$(wait_primary_is_not "$ME" @FAILOVER_WAIT_S@); then
            primary="$promoted"
            # Listen only once no Sentinel sends clients here as to the primary any more.
            wait_all_name_other_than "$ME" $((@FAILOVER_WAIT_S@ * 2)) || log "a Sentinel still names this pod the primary"
        fi
    fi
fi
# No Sentinel answers: the set's first start (or every Sentinel gone), when pod 0 is the primary.
[ -n "$primary" ] || primary="$FIRST"
if [ "$primary" = "$ME" ]; then
    log "starting as the primary ($ME)"
    exec redis-server @CONFIG_PATH@ --replica-announce-ip "$ME"
fi
log "starting as a replica of $primary"
exec redis-server @CONFIG_PATH@ --replica-announce-ip "$ME" --replicaof "$primary" "$REDIS_PORT"
