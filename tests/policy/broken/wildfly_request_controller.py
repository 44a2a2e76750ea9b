"""WildFly HA replicating sessions whose boot script removes the web-session file store but keeps
the request controller, which leaves a session's lock held after a failed lookup (WildFly 39)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

script = baseline.BOOT_SCRIPT.replace(baseline.REQUEST_CONTROLLER_REMOVAL, "")
assert script != baseline.BOOT_SCRIPT
service = baseline.wildfly_cluster(boot_script=script)
baseline.alb_target_group(service)
