"""Property-based: whatever a user writes, parsing and `tuneforge validate` give either a valid object
or problems that name their fields, and never another exception."""

from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuneforge.api.manifest import parse
from tuneforge.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [d for p in sorted((ROOT / "examples").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]

scalars = st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=True) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=12)


def paths(node, prefix=()):
    """Every path into a document: the places a user could get something wrong."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, (*prefix, i))


@st.composite
def mutated_examples(draw):
    """A real example with one place changed: replaced by any value, deleted, or given an unknown key."""
    doc = yaml.safe_load(yaml.safe_dump(draw(st.sampled_from(EXAMPLES))))
    path = draw(st.sampled_from([p for p in paths(doc) if p]))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "delete", "unknown-key"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "unknown-key" and isinstance(parent[path[-1]], dict):
        parent[path[-1]][draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    else:
        parent[path[-1]] = draw(json_values)
    return doc


def check(result):
    resource, issues = result
    if resource is None:
        assert issues, "an invalid document must say why"
        for issue in issues:
            assert isinstance(issue.path, str) and isinstance(issue.message, str) and issue.message
    else:
        assert issues == []


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_value_parses_or_says_why(value):
    check(parse(value))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["apiVersion", "kind", "metadata", "spec", "status"]), json_values, max_size=5))
def test_any_object_parses_or_says_why(value):
    check(parse(value))


@settings(max_examples=500, deadline=None)
@given(mutated_examples())
def test_mutated_examples_parse_or_name_the_field(doc):
    resource, issues = parse(doc)
    check((resource, issues))
    if resource is None:
        # Each problem names where it is (the document's own fields), not only that something is wrong.
        assert any(issue.path for issue in issues), issues


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_examples())
def test_validate_command_never_crashes(tmp_path, doc):
    manifest = tmp_path / "job.yaml"
    manifest.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(main, ["validate", str(manifest)])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 1:
        assert "problem(s) in 1 document(s)" in result.output
