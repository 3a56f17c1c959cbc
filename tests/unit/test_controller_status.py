"""Status from the child Job and Pod: phases, kstatus conditions, reasons that help."""

from tuneforge.controller import status


def job(conditions=(), suspend=False, **st):
    return {"spec": {"suspend": suspend}, "status": {"conditions": [{"type": t, "status": "True", **extra} for t, extra in conditions], **st}}


def pod(state=None, last=None, image="ghcr.io/tuneforge/finetune:0.1.0"):
    return {"status": {"containerStatuses": [{"image": image, "state": state or {}, "lastState": last or {}}]}}


def test_lifecycle_phases():
    assert status.observe(None, None)["phase"] == "Pending"
    assert status.observe(job(), None)["reason"] == "Scheduling"
    running = status.observe(job(active=1, startTime="2026-11-27T00:00:00Z"), pod({"running": {}}))
    assert (running["phase"], running["startTime"]) == ("Running", "2026-11-27T00:00:00Z")
    assert status.observe(job(suspend=True), None)["phase"] == "Suspended"
    result = '::tuneforge::result {"uri":"pvc://out/ns/x","files":3}'
    done = status.observe(job([("Complete", {})], completionTime="2026-11-27T01:00:00Z"),
                          pod({"terminated": {"exitCode": 0, "message": result}}))
    assert done["phase"] == "Succeeded" and done["result"] == {"uri": "pvc://out/ns/x", "files": 3}


def test_a_job_in_a_kueue_queue_says_so_with_kueues_reason():
    held = job(suspend=True)
    assert status.observe(held, None)["message"] == "the Job is suspended (runPolicy.suspend)"
    held["metadata"] = {"labels": {"kueue.x-k8s.io/queue-name": "team-a"}}
    waiting = status.observe(held, None, "couldn't assign flavors to pod set main: insufficient quota for cpu")
    assert (waiting["phase"], waiting["reason"]) == ("Suspended", "Queued")
    assert waiting["message"] == ("waiting in Kueue queue team-a: couldn't assign flavors to pod set main: "
                                  "insufficient quota for cpu")
    assert status.observe(held, None)["message"] == "waiting in Kueue queue team-a"


def test_oom_killed_says_what_to_change():
    failed = status.observe(job([("Failed", {"reason": "BackoffLimitExceeded"})]),
                            pod(last={"terminated": {"reason": "OOMKilled", "exitCode": 137}}))
    assert failed["phase"] == "Failed"
    assert failed["message"].startswith("the worker ran out of memory (OOMKilled)")
    assert "qlora" in failed["message"] and "batchSize" in failed["message"]


def test_image_pull_error_names_the_image():
    stuck = status.observe(job(), pod({"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}, image="reg/x:1"))
    assert stuck["phase"] == "Pending"
    assert stuck["message"] == "cannot pull the worker image reg/x:1: not found"


def test_invalid_input_failure_shows_the_workers_last_line():
    failed = status.observe(job([("Failed", {"reason": "PodFailurePolicy"})]),
                            pod({"terminated": {"exitCode": 2, "message": "error: dataset.format: needs column(s) messages"}}))
    assert failed["message"] == "the worker failed: dataset.format: needs column(s) messages"
    assert failed["reason"] == "PodFailurePolicy"


def test_conditions_follow_kstatus_and_keep_transition_times():
    first = status.conditions(None, "Running", "Running", "running", 1)
    assert {c["type"]: c["status"] for c in first} == {"Ready": "False", "Reconciling": "True", "Stalled": "False",
                                                       "Succeeded": "False", "Failed": "False"}
    for c in first:
        c["lastTransitionTime"] = "then"
    again = status.conditions(first, "Running", "Running", "running", 2)
    assert all(c["lastTransitionTime"] == "then" and c["observedGeneration"] == 2 for c in again)
    done = {c["type"]: c for c in status.conditions(again, "Succeeded", "Completed", "ok", 2)}
    assert done["Ready"]["status"] == "True" and done["Ready"]["lastTransitionTime"] != "then"
    assert done["Stalled"]["lastTransitionTime"] == "then"
    stalled = {c["type"]: c["status"] for c in status.stalled(None, "InvalidSpec", "bad", 1)}
    assert stalled["Stalled"] == "True" and stalled["Failed"] == "True" and stalled["Reconciling"] == "False"


def test_spec_applied_false_survives_the_phase_updates():
    running = status.conditions(None, "Running", "Running", "running", 1)
    marked = status.spec_not_applied(running, ["training.maxSteps"], 2)
    assert marked[-1]["type"] == "SpecApplied" and marked[-1]["status"] == "False"
    assert marked[-1]["message"] == ("spec changed after the job started (training.maxSteps); the change is not "
                                     "applied (create a new resource)")
    later = status.conditions(marked, "Succeeded", "Completed", "ok", 2)
    assert [c["type"] for c in later] == ["Ready", "Reconciling", "Stalled", "Succeeded", "Failed", "SpecApplied"]
    assert later[-1] == marked[-1]
