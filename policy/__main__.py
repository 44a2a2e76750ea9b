"""Entry point of the policy pack: assembles the pack, nothing else (the rules live in policy/*.py).

The engine starts it as ``python -u -m pulumi.policy <engine> .`` inside this directory, with the
virtualenv named in PulumiPolicy.yaml. The rule modules are the package ``policy`` of this
repository, so the repository root (not this directory, whose module names would shadow others)
goes on sys.path first.
"""

import sys
from pathlib import Path

_PACK_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _PACK_DIR]
sys.path.insert(0, str(_PACK_DIR.parent))

from pulumi_policy import PolicyPack  # noqa: E402

from policy.pack import PACK_NAME, build_policies, default_enforcement, environment_stack, is_production  # noqa: E402

_stack, _project_config = environment_stack()
_production = is_production(_stack, _project_config)

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(_production),
    enforcement_level=default_enforcement(_production),
    description="Catches the mistakes that lose HTTP sessions when session-holding apps move to Kubernetes and AWS.",
)
