#!/bin/sh
# sessionstack: start a Sentinel that monitors the primary the other Sentinels name (pod 0 on the
# set's first start). Its file is rewritten by Sentinel itself, so it lives in a writable emptyDir.
set -eu
. @SCRIPTS_DIR@/sentinel-lib.sh

primary=$(sentinels_primary)
[ -n "$primary" ] || primary="$FIRST"
# Sentinel refuses to start on a name that does not resolve: wait for it (the Services exist
# before the pods; this only guards a slow DNS).
wait_resolvable "$primary" 120 || log "$primary does not resolve yet"
log "monitoring $primary as $MASTER_NAME"
conf=@SENTINEL_DIR@/sentinel.conf
sed -e "s/__PRIMARY_HOST__/$primary/" -e "s/__ANNOUNCE_HOST__/$ME/" @SCRIPTS_DIR@/sentinel.conf > "$conf"
# requirepass and auth-pass lines from the Secret (never in the ConfigMap).
cat @AUTH_DIR@/@SENTINEL_AUTH_KEY@ >> "$conf"
exec redis-server "$conf" --sentinel
