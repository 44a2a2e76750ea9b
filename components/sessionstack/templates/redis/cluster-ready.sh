#!/bin/sh
# sessionstack: a cluster node is ready when the cluster serves every slot as it sees it, and a
# replica also when its link to its primary is up (in sync): a rolling restart moves to the next
# pod only then, so a shard never loses its primary's only copy.
set -eu
. @SCRIPTS_DIR@/cluster-lib.sh
[ "$(field "$(cluster_info 127.0.0.1)" cluster_state)" = ok ] || exit 1
replication=$(cli -p "$REDIS_PORT" info replication | tr -d '\r')
case "$replication" in
    *role:slave*) echo "$replication" | grep -qx 'master_link_status:up' ;;
    *role:master*) exit 0 ;;
    *) exit 1 ;;
esac
