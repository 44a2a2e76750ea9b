"""The program still declares, for every stack file, exactly what tests/stacks/snapshots/ records.

The snapshots are the safety net of refactorings (offline/snapshot.py): same URNs, same types,
same parents, same inputs field by field, same exports. A change that is meant to show is
recorded on purpose with `python -m offline.snapshot --update`, in the commit that makes it.
"""

from __future__ import annotations

import json

import pytest

from offline import mockrun, snapshot


@pytest.mark.parametrize("stack", mockrun.stacks())
def test_the_program_declares_what_the_snapshot_records(stack):
    recorded = json.loads(snapshot.path_of(stack).read_text())
    assert snapshot.differences(recorded, snapshot.snapshot(stack)) == []


def test_every_stack_file_has_a_snapshot_and_none_is_orphaned():
    assert {p.stem for p in snapshot.SNAPSHOT_DIR.glob("*.json")} == set(mockrun.stacks())


def test_a_changed_field_a_new_resource_and_a_renamed_urn_are_all_differences():
    recorded = {"resources": [{"urn": "u1", "inputs": {"spec": {"replicas": 2}}}, {"urn": "u2", "inputs": {}}], "exports": {"url": "x"}}
    current = {"resources": [{"urn": "u1", "inputs": {"spec": {"replicas": 3}}}, {"urn": "u3", "inputs": {}}], "exports": {"url": "x"}}
    assert snapshot.differences(recorded, current) == [
        ".resources.u1.inputs.spec.replicas: 2 -> 3", ".resources.u2: removed", ".resources.u3: added"]
