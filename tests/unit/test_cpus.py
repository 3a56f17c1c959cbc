"""Threads for local workers: one per core the process may really use, the user's OMP_NUM_THREADS first."""

from tuneforge import cpus


def test_a_cgroup_quota_limits_the_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cpus.cgroup_quota(tmp_path) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpus.cgroup_quota(tmp_path) is None
    assert cpus.cgroup_quota(tmp_path / "absent") is None


def test_smt_siblings_count_as_one_core(tmp_path):
    for cpu, siblings in {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"}.items():
        (tmp_path / f"cpu{cpu}" / "topology").mkdir(parents=True)
        (tmp_path / f"cpu{cpu}" / "topology" / "core_cpus_list").write_text(siblings + "\n")
    assert cpus.physical_cores({0, 1, 2, 3}, tmp_path) == 2
    assert cpus.physical_cores({0, 2}, tmp_path) == 1
    assert cpus.physical_cores({7}, tmp_path) is None


def test_the_users_setting_wins(monkeypatch):
    assert cpus.thread_env({"OMP_NUM_THREADS": "3"}) == {}
    chosen = cpus.thread_env({})
    assert chosen["OMP_NUM_THREADS"] == chosen["MKL_NUM_THREADS"] == str(cpus.usable_cores())
    assert 1 <= cpus.usable_cores() <= len(cpus.affinity())
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpus.worker_threads() == 3


def test_a_pods_cpu_limit_caps_the_threads(monkeypatch):
    # A 4-core node seen whole by the pod (no cgroup quota it can read), whatever machine runs this.
    monkeypatch.setattr(cpus, "affinity", lambda: {0, 1, 2, 3})
    monkeypatch.setattr(cpus, "cgroup_quota", lambda: None)
    monkeypatch.setattr(cpus, "physical_cores", lambda _: None)
    monkeypatch.setenv("TUNEFORGE_CPU_LIMIT", "1")
    assert cpus.usable_cores() == 1 and cpus.thread_env({}) == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    monkeypatch.delenv("TUNEFORGE_CPU_LIMIT")
    unlimited = cpus.usable_cores()
    monkeypatch.setenv("TUNEFORGE_CPU_LIMIT", "100000")  # a pod without a limit: the node's allocatable CPUs
    assert cpus.usable_cores() == unlimited
