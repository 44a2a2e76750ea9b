"""Field report 004: Redis published through a LoadBalancer for access from outside the cluster,
and no password."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

baseline.redis_store(auth=False, client_service_type="LoadBalancer")
