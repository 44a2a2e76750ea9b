"""Field report 000's fix for the 403: a ClusterRole for pod listing, bound cluster-wide."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

baseline.wildfly_cluster(rbac="cluster-role")
