"""The field reports' image: wildfly:latest, a different server on every pull."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402

baseline.wildfly_cluster(image="jboss/wildfly:latest")
