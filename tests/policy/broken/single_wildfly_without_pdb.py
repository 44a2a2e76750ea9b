"""A production WildFly with one replica and no PodDisruptionBudget: a node drain takes it down."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

baseline.wildfly_cluster(replicas=1, pdb=False)
