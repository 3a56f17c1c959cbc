"""A worker's death in words: signals by name and likely cause, the worker's own error line above a
launcher's report. The end-to-end version (real processes killing themselves) is tests/backends/test_worker_failures.py."""

import signal

from tuneforge import crash
from tuneforge.controller import status

TORCHRUN_LOG = """\
loading the dataset
error: s3://datasets/support-chats/: no S3 credentials; set secretRef on the source
E1129 10:00:00.000000 123 torch/distributed/elastic/multiprocessing/api.py:900] failed (exitcode: 2) local_rank: 0 (pid: 124) of binary: /venv/bin/python
Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "/venv/lib/python3.11/site-packages/torch/distributed/run.py", line 900, in main
    run(args)
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
tuneforge.worker FAILED
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  rank      : 0 (local_rank: 0)
  exitcode  : {code} (pid: 124)
  error_file: <N/A>
============================================================
"""


def test_signal_numbers_from_a_parent_and_from_a_container_runtime():
    assert crash.signal_of(-4) == signal.SIGILL
    assert crash.signal_of(132) == signal.SIGILL
    assert crash.signal_of(137) == signal.SIGKILL
    assert crash.signal_of(2) is None and crash.signal_of(1) is None and crash.signal_of(0) is None


def test_each_signal_names_itself_and_its_likely_cause():
    ill = crash.explain_signal(signal.SIGILL)
    assert ill.startswith("illegal instruction (SIGILL): a native library was built for CPU features this machine cannot run")
    assert "rebuild: remove ~/.cache/tuneforge/wheels/llama-cpp-python-*" in ill
    killed = crash.explain_signal(signal.SIGKILL, peak_rss=2_900_000_000, memory=24_000_000_000)
    assert killed.startswith("killed (SIGKILL), most often by the kernel's out-of-memory killer (peak RSS 2.9 GB of 24.0 GB)")
    segv = crash.explain_signal(signal.SIGSEGV, last_lines=["a", "", "ggml_graph_compute: bad", "abort here"])
    assert segv == "segmentation fault (SIGSEGV): a crash in a native library; last log lines: a / ggml_graph_compute: bad / abort here"
    assert crash.explain_signal(signal.SIGBUS).startswith("bus error (SIGBUS)")
    assert crash.explain_signal(signal.SIGTERM).startswith("stopped from outside (SIGTERM)")


def test_a_local_exit_says_the_signal_or_the_workers_own_error():
    assert crash.describe_exit(-4).startswith("illegal instruction (SIGILL)")
    assert crash.describe_exit(2, "loading\nerror: spec.model: no such file\n") == "spec.model: no such file"
    assert crash.describe_exit(1, "Traceback ...\nValueError: x\n") == "exit code 1"


def test_under_torchrun_the_workers_error_line_is_shown_not_the_launchers_report():
    log = TORCHRUN_LOG.replace("{code}", "2")
    assert crash.describe_exit(1, log) == "s3://datasets/support-chats/: no S3 credentials; set secretRef on the source"
    kept = crash.without_launcher_report(log.splitlines())
    assert kept == ["loading the dataset", "error: s3://datasets/support-chats/: no S3 credentials; set secretRef on the source"]
    # torchrun exits 1 when its child died by a signal; its report holds the child's -N.
    assert crash.describe_exit(1, TORCHRUN_LOG.replace("{code}", "-4")).startswith("illegal instruction (SIGILL)")


def test_a_workers_own_traceback_is_kept_when_no_launcher_ran():
    lines = ["Traceback (most recent call last):", '  File "x.py", line 1', "ValueError: bad"]
    assert crash.without_launcher_report(lines) == lines


def job_failed():
    return {"spec": {}, "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}


def pod(terminated):
    return {"status": {"containerStatuses": [{"image": "x", "state": {"terminated": terminated}}]}}


def test_the_operator_names_a_containers_signal():
    ill = status.observe(job_failed(), pod({"exitCode": 132, "reason": "Error", "message": "quantizing q4_k_m"}))
    assert ill["message"].startswith("the worker died: illegal instruction (SIGILL): a native library was built for CPU "
                                     "features this machine cannot run (rebuild: use an image built without -march=native")
    segv = status.observe(job_failed(), pod({"exitCode": 139, "reason": "Error", "message": "llama_model_load: ok\n"}))
    assert segv["message"] == ("the worker died: segmentation fault (SIGSEGV): a crash in a native library; "
                               "last log lines: llama_model_load: ok")
    killed = status.observe(job_failed(), pod({"exitCode": 137, "reason": "Error"}))
    assert killed["message"].startswith("the worker died: killed (SIGKILL), most often by the kernel's out-of-memory killer")


def test_the_operator_shows_the_workers_line_from_a_torchrun_log_tail():
    failed = status.observe(job_failed(), pod({"exitCode": 1, "reason": "Error", "message": TORCHRUN_LOG.replace("{code}", "2")}))
    assert failed["message"] == "the worker failed: s3://datasets/support-chats/: no S3 credentials; set secretRef on the source"
    died = status.observe(job_failed(), pod({"exitCode": 1, "reason": "Error", "message": TORCHRUN_LOG.replace("{code}", "-11")}))
    assert died["message"].startswith("the worker died: segmentation fault (SIGSEGV)")
    assert "ChildFailedError" not in died["message"] and "no S3 credentials" in died["message"]
