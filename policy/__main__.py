"""Entry point of the policy pack: assembles the pack, nothing else (the rules live in policy/*.py).

The engine runs this file with the python of the virtualenv named in PulumiPolicy.yaml: through
the language host (``python <this directory> <engine address>``) or, from older engines, through
``python -u -m pulumi.policy <engine address> .`` inside this directory. The rule modules are the
package ``policy`` of this repository, so the repository root goes on sys.path instead of this
directory (whose module names would shadow others).
"""

import sys
from pathlib import Path

_PACK_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _PACK_DIR]
sys.path.insert(0, str(_PACK_DIR.parent))

from pulumi_policy import PolicyPack  # noqa: E402

from policy.pack import DEFAULT_ENFORCEMENT, DESCRIPTION, PACK_NAME, build_policies  # noqa: E402

PolicyPack(name=PACK_NAME, enforcement_level=DEFAULT_ENFORCEMENT, policies=build_policies(), description=DESCRIPTION)
