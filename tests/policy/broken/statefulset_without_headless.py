"""A StatefulSet whose serviceName is an ordinary ClusterIP Service: no per-pod DNS records."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

baseline.redis_store(headless=False)
