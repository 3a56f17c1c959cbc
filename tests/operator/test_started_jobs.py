"""A started job: which spec changes are applied (runPolicy.suspend) or reported, and which pod of an Indexed Job the status reads."""

from tuneforge.controller.reconcile import changed_paths, suspended


def test_changed_paths_name_each_leaf_or_list():
    old = {"method": "lora", "training": {"maxSteps": 3, "learningRate": 1e-4}, "lora": {"targetModules": ["q"]}}
    new = {"method": "lora", "training": {"maxSteps": 5, "learningRate": 1e-4}, "lora": {"targetModules": ["q", "k"]},
           "runPolicy": {"suspend": True}}
    assert changed_paths(old, new) == ["lora.targetModules", "runPolicy.suspend", "training.maxSteps"]
    assert changed_paths(old, old) == []


def test_suspend_defaults_to_running():
    assert not suspended({}) and not suspended({"runPolicy": {}}) and suspended({"runPolicy": {"suspend": True}})


def pod(name, created, index=None, terminated=None):
    labels = {"batch.kubernetes.io/job-completion-index": index} if index is not None else {}
    state = {"terminated": terminated} if terminated else {"running": {}}
    return {"metadata": {"name": name, "creationTimestamp": created, "labels": labels},
            "status": {"containerStatuses": [{"image": "x", "state": state}]}}


def test_an_indexed_jobs_result_comes_from_rank_zero_even_when_rank_one_ends_last():
    from tuneforge.controller.sync import pod_to_report

    done = {"exitCode": 0, "reason": "Completed", "message": '::tuneforge::result {"uri": "pvc://o/x"}'}
    rank0 = pod("j-0", "2026-11-29T10:00:00Z", "0", done)
    rank1 = pod("j-1", "2026-11-29T10:00:05Z", "1", {"exitCode": 0, "reason": "Completed"})
    assert pod_to_report([rank0, rank1])["metadata"]["name"] == "j-0"
    # A rank in trouble explains a failure, whichever rank it is.
    oom = pod("j-1", "2026-11-29T10:00:05Z", "1", {"exitCode": 137, "reason": "OOMKilled"})
    assert pod_to_report([rank0, oom])["metadata"]["name"] == "j-1"
    # A plain Job's pods carry no index: the newest one.
    assert pod_to_report([pod("a", "1"), pod("b", "2")])["metadata"]["name"] == "b"


def test_a_succeeded_job_reads_its_result_from_the_pod_that_succeeded_not_an_earlier_failed_try():
    from tuneforge.controller.sync import pod_to_report

    failed = pod("j-0-a", "2026-11-29T10:00:00Z", "0", {"exitCode": 1, "reason": "Error"})
    done = pod("j-0-b", "2026-11-29T10:05:00Z", "0", {"exitCode": 0, "reason": "Completed"})
    later_rank1 = pod("j-1", "2026-11-29T10:06:00Z", "1", {"exitCode": 0, "reason": "Completed"})
    assert pod_to_report([failed, done, later_rank1], succeeded=True)["metadata"]["name"] == "j-0-b"
    assert pod_to_report([failed, done, later_rank1])["metadata"]["name"] == "j-0-a"


def test_a_finished_row_shows_the_workers_final_loss_even_when_no_step_was_seen():
    from tuneforge.controller.sync import desired_status

    parent = {"metadata": {"generation": 1}, "status": {"progress": {"stage": "loading model", "percent": 0}}}
    job = {"status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}}
    done = {"exitCode": 0, "reason": "Completed", "message": '::tuneforge::result {"uri": "pvc://o/x", "finalLoss": 1.25}'}
    new = desired_status(parent, job, pod("j", "2026-11-29T10:00:00Z", None, done), None)
    assert new["phase"] == "Succeeded"
    assert new["progress"]["percent"] == 100 and new["progress"]["loss"] == 1.25 and new["progress"]["eta"] == "0s"
