"""Three Redis pods behind one Service, with neither Sentinels nor Redis Cluster: three primaries."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

baseline.redis_store(replicas=3)
