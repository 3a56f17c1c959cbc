import pytest
from builders import finetune

from tuneforge.overrides import OverrideError, apply


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
