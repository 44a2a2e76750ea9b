"""KUBE_PING on the namespace's default ServiceAccount: the pod list answers 403 Forbidden."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

baseline.wildfly_cluster(service_account=None)
