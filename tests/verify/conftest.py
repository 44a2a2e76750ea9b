import sys
from pathlib import Path

# demo_server / fake_kubectl live next to the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))
