#!/usr/bin/env python3
"""Stand-in for kubectl in the verify tests: records its argv, and drives the demo stack's
rolling restart through the control endpoint named by FAKE_KUBECTL_STACK."""

import json
import os
import sys
import time
import urllib.request

argv = sys.argv[1:]
args = argv[argv.index("rollout"):] if "rollout" in argv else argv
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps(argv) + "\n")
control = os.environ["FAKE_KUBECTL_STACK"] + "/__control/rollout"
if os.environ.get("FAKE_KUBECTL_FAIL"):
    print('Error from server (NotFound): deployments.apps "x" not found', file=sys.stderr)
    sys.exit(1)
if args[:2] == ["rollout", "restart"]:
    urllib.request.urlopen(urllib.request.Request(control, method="POST"), timeout=5).read()
    print(f"{args[2]} restarted")
elif args[:2] == ["rollout", "status"]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if urllib.request.urlopen(control, timeout=5).status == 200:
            print(f'{args[2]} successfully rolled out')
            sys.exit(0)
        time.sleep(0.05)
    sys.exit(1)
else:
    sys.exit(2)
