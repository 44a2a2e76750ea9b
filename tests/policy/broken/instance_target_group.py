"""Field report 001 on EKS: an instance-target ALB target group without stickiness in front of the
WAS pods (the cookie, once added, would pin a node, not a pod)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

service = baseline.wildfly_cluster()
baseline.alb_target_group(service, target_type="instance", sticky=False)
