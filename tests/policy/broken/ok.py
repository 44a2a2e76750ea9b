"""Control: the building blocks without a mistake. The whole pack reports nothing."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

service = baseline.wildfly_cluster()
baseline.redis_store()
baseline.alb_target_group(service)
