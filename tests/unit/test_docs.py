"""The docs pages that are not generated still name every field the code writes."""

import re

from tuneforge.worker import record
from tuneforge.worker.progress import Reporter


def test_output_record_page_names_every_field(root, tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x")
    resource = {"apiVersion": "tuneforge.io/v1alpha1", "kind": "MergeJob", "metadata": {"name": "m"}, "spec": {"method": "ties"}}
    written = record.write(tmp_path, resource, {}, {"model": "."}, {}, skip=("checkpoints",))
    page = (root / "docs" / "output-record.md").read_text()
    for key in written:
        assert f"`{key}`" in page, key
    for key in written["files"][0]:
        assert f"`{key}`" in page, key


def test_progress_page_names_every_field_a_reporter_emits(root):
    import io

    out = io.StringIO()
    reporter = Reporter(out=out, termination_log="/nonexistent/termination-log")
    reporter.progress(3, 10, force=True, loss=1.0, learningRate=1e-4, epoch=0.5, tokensPerSecond=9.0, stage="train")
    reporter.result({"uri": "file:///x", "files": 1, "totalBytes": 1, "finalLoss": 1.0, "artifacts": {}, "sample": None})
    page = (root / "docs" / "progress.md").read_text()
    for line in out.getvalue().splitlines():
        for key in re.findall(r'"([A-Za-z]+)":', line):
            assert f"`{key}`" in page, key


def test_api_reference_is_generated_from_the_current_types(root):
    from tuneforge.codegen import apidocs

    assert apidocs.drift(root) == []
    page = (root / "docs" / "api.md").read_text()
    assert "| `spec.training.maxSteps`" not in page and "| `training.maxSteps` | integer |" in page


def test_every_relative_link_in_the_readme_and_docs_resolves(root):
    import re

    broken = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md")), root / "bench" / "README.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://")) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(root)} -> {target}")
    assert broken == []
