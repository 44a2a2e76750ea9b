# Source me (bash): `. tools/engine/env.sh`. Builds the Pulumi engine once if needed
# (tools/engine/build.sh), then sets up this shell to run it with no internet:
#   PATH                    the engine's bin dir first (pulumi, pulumi-language-python)
#   PULUMI_IGNORE_AMBIENT_PLUGINS  providers come from the plugin cache of ${PULUMI_HOME:-~/.pulumi},
#                           where link-plugins links the ones build.sh built
#   SESSIONSTACK_ENGINE_BIN that bin dir
#   PULUMI_BACKEND_URL      file://<repo>/.pulumi-state (ignored by git), unless already set
#   PULUMI_CONFIG_PASSPHRASE  a fixed value when neither it nor PULUMI_CONFIG_PASSPHRASE_FILE is set:
#                           the local stack has no secrets, CI must not prompt
#   PULUMI_SKIP_UPDATE_CHECK, PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION  never reach the internet
# Returns non-zero (without exiting your shell) when the build fails.

_sessionstack_engine_env() {
  local here root bin
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  root="$(cd "$here/../.." && pwd)"
  bin="$(bash "$here/build.sh")" || return 1
  case ":$PATH:" in
    *":$bin:"*) ;;
    *) export PATH="$bin:$PATH" ;;
  esac
  export SESSIONSTACK_ENGINE_BIN="$bin"
  export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$root/.pulumi-state}"
  if [[ -z "${PULUMI_CONFIG_PASSPHRASE+set}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
    export PULUMI_CONFIG_PASSPHRASE="sessionstack-local"
  fi
  bash "$here/link-plugins" "$bin" "${PULUMI_HOME:-$HOME/.pulumi}" || return 1
  export PULUMI_IGNORE_AMBIENT_PLUGINS=true
  export PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
  case "$PULUMI_BACKEND_URL" in
    file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;;
  esac
}
_sessionstack_engine_env
