import pytest
from support.builders import finetune

from tuneforge.cli.overrides import OverrideError, apply


def test_set_nested_values_as_yaml():
    doc = dict(finetune("lora"))
    apply(doc, "spec.training.maxSteps=5")
    apply(doc, "spec.lora.targetModules=[q_proj, v_proj]")
    apply(doc, "spec.output.mergeAdapter=true")
    apply(doc, "spec.model.uri=file:///m")
    assert doc["spec"]["training"]["maxSteps"] == 5
    assert doc["spec"]["lora"]["targetModules"] == ["q_proj", "v_proj"]
    assert doc["spec"]["output"]["mergeAdapter"] is True
    assert doc["spec"]["model"]["uri"] == "file:///m"


def test_list_index():
    doc = {"spec": {"models": [{"model": {"uri": "a"}}, {"model": {"uri": "b"}}]}}
    apply(doc, "spec.models[1].model.uri=c")
    assert doc["spec"]["models"][1]["model"]["uri"] == "c"


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("spec.training.maxSteps", "expected path=value"),
        ("spec.models[3].x=1", "index [3] does not exist"),
        ("spec.method.deeper=1", "'deeper' is inside a value that is not a mapping"),
        ("spec..x=1", "cannot parse the path"),
    ],
)
def test_bad_overrides_say_what_is_wrong(assignment, message):
    doc = {"spec": {"method": "lora", "models": []}}
    with pytest.raises(OverrideError, match=message.replace("[", r"\[").replace("]", r"\]")):
        apply(doc, assignment)


def _run_set(tmp_path, *sets):
    import subprocess
    import sys

    import yaml
    from support.builders import merge

    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump_all([dict(finetune("lora", name="ft")), dict(merge("slerp", name="mj"))]))
    args = [sys.executable, "-m", "tuneforge.cli", "run", str(path), "--output", str(tmp_path / "o")]
    for s in sets:
        args += ["--set", s]
    # An invalid value stops the run before any work, so this is a quick way to see what was applied.
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_set_applies_only_to_kinds_that_have_the_field(tmp_path):
    proc = _run_set(tmp_path, "spec.training.maxSteps=0")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"{tmp_path / 'two.yaml'}:1: spec.training.maxSteps: Input should be greater than or equal to 1"]


def test_set_with_a_name_prefix_changes_one_document(tmp_path):
    proc = _run_set(tmp_path, "mj:spec.parameters.t=7")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"{tmp_path / 'two.yaml'}:2: spec.parameters.t: t must be between 0 and 1, got 7"]


def test_set_that_matches_nothing_is_an_error(tmp_path):
    proc = _run_set(tmp_path, "spec.trainig.maxSteps=3")
    assert proc.returncode == 2
    assert "--set spec.trainig.maxSteps=3: no document in the file has that field (or that name)" in proc.stderr


def test_values_are_read_as_the_manifest_is():
    doc = {"spec": {"training": {}}}
    apply(doc, "spec.training.learningRate=5e-5")
    apply(doc, "spec.training.note=2026-11-29")
    assert doc["spec"]["training"] == {"learningRate": 5e-5, "note": "2026-11-29"}
