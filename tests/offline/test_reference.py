"""components/REFERENCE.md: generated from the docstrings, complete, and never stale."""

from __future__ import annotations

from offline import reference


def test_every_args_field_and_output_is_documented():
    assert reference.undocumented(reference.components()) == []


def test_the_committed_reference_is_what_the_docstrings_generate():
    assert reference.REFERENCE.read_text() == reference.render(reference.components()), "run: python -m offline.reference"


def test_every_component_is_in_the_reference_with_its_type_token():
    found = {c.name: c for c in reference.components()}
    assert {"WildflyCluster", "RedisSessionStore", "ElastiCacheSessionStore", "ApacheStaticTier", "SessionRouting",
            "EksCluster", "AwsLoadBalancerController", "AwsFrontDoor"} <= set(found)
    text = reference.REFERENCE.read_text()
    for c in found.values():
        assert c.token.startswith("sessionstack:") and f"`{c.token}`" in text
        assert all(f"| `{m.name}` |" in text for m in c.args + c.outputs)


def test_an_undocumented_field_or_output_is_reported(tmp_path):
    (tmp_path / "thing.py").write_text(
        "import pulumi\nfrom dataclasses import dataclass\n\n"
        "@dataclass(frozen=True)\nclass ThingArgs:\n    size: int = 1\n    colour: str = 'red'\n    \"\"\"Paint.\"\"\"\n\n"
        "class Thing(pulumi.ComponentResource):\n    url: pulumi.Output[str]\n\n"
        "    def __init__(self, name: str, args: ThingArgs, opts=None):\n        super().__init__('sessionstack:x:Thing', name, None, opts)\n"
    )
    found = reference.components(tmp_path)
    assert reference.undocumented(found) == ["ThingArgs.size", "Thing.url (output)"]
    assert "| `colour` | `str` | `'red'` | Paint. |" in reference.render(found)
