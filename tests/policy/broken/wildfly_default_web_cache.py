"""WildFly HA replicating sessions with the image's default web-session cache: no boot script
removes its passivating file store (the hang of bench/session_hangs.py), nor its request
controller."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

service = baseline.wildfly_cluster(boot_script=None)
baseline.alb_target_group(service)
