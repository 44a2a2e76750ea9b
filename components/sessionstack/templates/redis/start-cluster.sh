#!/bin/sh
# sessionstack: start a Redis Cluster node that announces its pod's own Service: the DNS name to
# clients (redirects, CLUSTER SLOTS) and the ClusterIP to the other nodes. Both stay when the pod is
# replaced, so the others find a restarted node where they knew it (nodes.conf on the volume keeps
# its identity and slots), even when every pod restarts at once.
set -eu
. @SCRIPTS_DIR@/cluster-lib.sh
me="$POD_NAME.$DOMAIN"
address=$(resolve "$me" 120) || { log "$me does not resolve after 120 s"; exit 1; }
log "starting cluster node $me ($address)"
exec redis-server @CONFIG_PATH@ --cluster-announce-ip "$address" --cluster-announce-hostname "$me"
