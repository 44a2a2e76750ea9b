#!/bin/sh
# sessionstack: readiness of Redis in sentinel mode. The primary is ready when it answers; a replica
# only once its link to the primary is up (synced): a rolling update must not move on to the next
# pod while the new one is still loading the primary's data, or the primary is left without a
# replica in sync and refuses writes (min-replicas-to-write), or a replica without the data could
# be promoted; and only once every Sentinel knows it as a replica (sentinel-lib.sh,
# known_to_every_sentinel), or a failover in the next step would leave it behind.
info=$(REDISCLI_AUTH="$REDIS_PASSWORD" timeout 2 redis-cli --no-auth-warning -h 127.0.0.1 -p @REDIS_PORT@ info replication | tr -d '\r')
case "$info" in
    *role:master*) exit 0 ;;
    *master_link_status:up*) ;;
    *) exit 1 ;;
esac
. @SCRIPTS_DIR@/sentinel-lib.sh
known_to_every_sentinel
