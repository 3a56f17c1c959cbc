"""`tuneforge validate`: one line per problem as FILE[:DOC]: field.path: message, exit codes, no tracebacks."""

import subprocess
import sys
from pathlib import Path

import yaml
from support.builders import finetune, merge


def validate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuneforge.cli", "validate", *args],
        capture_output=True, text=True, input=stdin, timeout=60,
    )


def write(tmp_path: Path, name: str, *docs) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all([dict(d) for d in docs]) if docs and not isinstance(docs[0], str) else docs[0])
    return str(path)


def test_valid_files_exit_zero(tmp_path):
    path = write(tmp_path, "ok.yaml", finetune("lora"), merge("slerp"))
    proc = validate(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "2 document(s) valid" in proc.stderr


def test_every_problem_is_a_line_naming_file_document_and_field(tmp_path):
    path = write(tmp_path, "bad.yaml", finetune("lora").set("spec.lorra", {}), merge("ties").drop("spec.baseModel").set("spec.parameters", {"weight": 0.5}))
    proc = validate(path)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"{path}:1: spec.lorra: unknown field; did you mean 'lora'?",
        f"{path}:2: spec.baseModel: method ties needs a baseModel",
    ]
    assert "Traceback" not in proc.stderr


def test_single_document_has_no_index(tmp_path):
    path = write(tmp_path, "one.yaml", finetune("sft"))
    proc = validate(path)
    assert proc.stdout.startswith(f"{path}: spec.method: ")


def test_bad_yaml_is_reported_with_its_position(tmp_path):
    path = write(tmp_path, "broken.yaml", "apiVersion: tuneforge.io/v1alpha1\nkind: [FineTuneJob\n")
    proc = validate(path)
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"{path}: invalid YAML: line 3, column 1:")
    assert "Traceback" not in proc.stderr


def test_wrong_api_version_and_kind(tmp_path):
    doc = finetune("lora").set("apiVersion", "tuneforge.io/v1").set("kind", "FinetuneJob")
    proc = validate(write(tmp_path, "k.yaml", doc))
    assert "apiVersion: expected tuneforge.io/v1alpha1, got 'tuneforge.io/v1'" in proc.stdout
    assert "kind: unknown kind 'FinetuneJob'; expected one of FineTuneJob, MergeJob, QuantizeJob (did you mean FineTuneJob?)" in proc.stdout


def test_not_a_mapping_and_missing_name(tmp_path):
    path = write(tmp_path, "odd.yaml", "- a\n- b\n---\napiVersion: tuneforge.io/v1alpha1\nkind: MergeJob\nmetadata: {}\n")
    lines = validate(path).stdout.splitlines()
    assert lines == [
        f"{path}:1: expected a mapping (a Kubernetes object), got list",
        f"{path}:2: metadata.name: required field is missing",
    ]


def test_missing_file_and_empty_file(tmp_path):
    empty = write(tmp_path, "empty.yaml", "")
    proc = validate(str(tmp_path / "nope.yaml"), empty)
    # click rejects a missing path before we run; an empty file is ours to explain
    assert proc.returncode != 0
    proc = validate(empty)
    assert proc.stdout.strip() == f"{empty}: no YAML documents in file"


def test_stdin(tmp_path):
    proc = validate("-", stdin=yaml.safe_dump(dict(finetune("qlora").drop("spec.quantization"))))
    assert proc.stdout.startswith("<stdin>: spec.quantization: method qlora needs 4-bit settings")


def test_examples_are_valid(root):
    examples = sorted(str(p) for p in (root / "examples").glob("*.yaml"))
    proc = validate(*examples)
    assert proc.returncode == 0, proc.stdout


def test_every_method_has_an_example(root):
    seen = set()
    for path in (root / "examples").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            seen.add((doc["kind"], doc["spec"]["method"]))
    wanted = {("FineTuneJob", m) for m in ("full", "lora", "qlora", "dpo")}
    wanted |= {("QuantizeJob", m) for m in ("gguf", "awq", "gptq", "exl2", "exl3")}
    wanted |= {("MergeJob", m) for m in ("slerp", "ties", "dare_ties", "dare_linear", "linear", "task_arithmetic", "passthrough")}
    assert wanted - seen == set()


# Read as `kubectl apply` with the server's strict field validation reads it (tests/e2e checks the
# same files against the real API server once it exists).
STRICT = """\
apiVersion: tuneforge.io/v1alpha1
kind: FineTuneJob
metadata: {{name: strict}}
spec:
  method: lora
  model: {{uri: builtin://smollm2-135m-instruct}}
  dataset: {{uri: builtin://chat-mini, format: chat}}
  training:
    maxSteps: {steps}
    learningRate: 1e-4
  lora: {{r: 8}}
  output: {{mergeAdapter: {merge}}}
"""


def test_a_field_written_twice_is_refused_with_both_lines(tmp_path):
    text = STRICT.format(steps=5, merge="true") + "  lora: {r: 16}\n"
    proc = validate(write(tmp_path, "twice.yaml", text))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"{tmp_path / 'twice.yaml'}: spec.lora: duplicate field (lines 11 and 13); kubectl apply refuses the file: write it once"]


def test_a_quoted_number_or_boolean_is_the_wrong_type_as_on_the_server(tmp_path):
    proc = validate(write(tmp_path, "types.yaml", STRICT.format(steps='"5"', merge='"true"')))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert f"{tmp_path / 'types.yaml'}: spec.training.maxSteps: Input should be a valid integer" in lines, lines
    assert f"{tmp_path / 'types.yaml'}: spec.output.mergeAdapter: Input should be a valid boolean" in lines, lines
    # The same numbers and booleans unquoted are what the server takes.
    assert validate(write(tmp_path, "ok.yaml", STRICT.format(steps=5, merge="true"))).returncode == 0


def test_exponent_numbers_are_numbers_as_in_kubernetes_yaml():
    from tuneforge.api.manifest import load_text

    (doc,) = load_text(STRICT.format(steps=5, merge="true"), "x")
    assert doc.issues == [] and doc.raw["spec"]["training"]["learningRate"] == 1e-4


def test_an_unquoted_date_stays_a_string(tmp_path):
    # YAML 1.1 would read 2026-11-29 as a date; Kubernetes' YAML reads the string, and so does tuneforge.
    from tuneforge.api.manifest import load_text

    text = STRICT.format(steps=5, merge="true").replace("metadata: {name: strict}",
                                                         "metadata: {name: strict, annotations: {since: 2026-11-29}}")
    (doc,) = load_text(text, "x")
    assert doc.issues == [] and doc.raw["metadata"]["annotations"]["since"] == "2026-11-29"
