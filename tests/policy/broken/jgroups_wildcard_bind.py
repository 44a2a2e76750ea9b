"""Field report 000: WildFly HA started with -b 0.0.0.0 -bprivate 0.0.0.0. KUBE_PING lists every
pod, yet JGroups advertises 0.0.0.0:7600 and each pod forms a singleton cluster."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

baseline.wildfly_cluster(args=["-c", "standalone-ha.xml", "-b", "0.0.0.0", "-bprivate", "0.0.0.0"])
