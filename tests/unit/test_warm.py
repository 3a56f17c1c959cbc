"""The warm process (`tuneforge warm`, tuneforge/cli/warm.py), for real: a server preloading a stdlib
module, forking tests/support/warm_probe.py as it forks the worker."""

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from support.warm import WarmProcess

from tuneforge.cli import warm
from tuneforge.cli.local import worker_env
from tuneforge.crash import explain_signal

SUPPORT = str(Path(__file__).resolve().parents[1])
PROBE = "support.warm_probe"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([SUPPORT, os.environ.get("PYTHONPATH", "")]))
    return dict(os.environ)


@pytest.fixture
def server(tmp_path, env):
    process = WarmProcess(tmp_path, preload="email.mime.text", modules=(PROBE,))
    yield process
    process.stop()


def probe(server, env, log, *args, **extra):
    """The probe started as run_one starts the worker, with the environment it gives one."""
    return warm.start([sys.executable, "-m", PROBE, *args], worker_env({**env, **server.env, **extra}), log)


def gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_forked_worker_has_the_callers_argv_environment_folder_and_streams(server, env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "worker.log", "w") as log:
        started = probe(server, env, log, "--exit", "3", PROBE="seen")
        assert started is not None, (tmp_path / "worker.log").read_text()
        said = json.loads(started.stdout.readline())
        code, rss = started.wait()
    assert code == 3 and rss > 0
    assert said["preloaded"], "started from the warm process, its module already imported"
    assert said["probe"] == "seen" and said["cwd"] == str(tmp_path) and said["path0"] == str(tmp_path)
    assert said["argv"] == ["--exit", "3"] and said["pid"] == started.pid
    assert "probe stderr" in (tmp_path / "worker.log").read_text()
    assert server.lines(f"warm: forked worker {started.pid} in {tmp_path}")


@pytest.mark.parametrize("change, why", [
    ({"OMP_NUM_THREADS": "7"}, "OMP_NUM_THREADS set otherwise than when it imported the libraries"),
    ({"HF_HUB_OFFLINE": "0"}, "HF_HUB_OFFLINE set otherwise"),
])
def test_a_variable_read_at_import_set_otherwise_starts_the_worker_fresh(server, env, tmp_path, change, why):
    with open(tmp_path / "worker.log", "w") as log:
        assert probe(server, env, log, **change) is None
    note = (tmp_path / "worker.log").read_text()
    assert why in note and note.rstrip().endswith("; the worker starts fresh")
    assert server.lines("warm: declined a worker") and not server.lines("warm: forked")
    # The note is tuneforge's, not the worker's: a crash report's "last log lines" leave it out.
    assert "last log lines" not in explain_signal(signal.SIGSEGV, last_lines=note.splitlines())


def test_another_python_or_module_starts_fresh(server, env, tmp_path):
    with open(tmp_path / "worker.log", "w") as log:
        assert warm.start(["/usr/bin/python3", "-m", PROBE], worker_env({**env, **server.env}), log) is None
        assert warm.start([sys.executable, "-m", "json.tool"], worker_env({**env, **server.env}), log) is None
    note = (tmp_path / "worker.log").read_text()
    assert f"it runs {sys.executable}, the worker wants /usr/bin/python3" in note
    assert "it starts only support.warm_probe, tuneforge.worker" in note


def test_no_warm_process_at_the_address_starts_fresh(env, tmp_path):
    with open(tmp_path / "worker.log", "w") as log:
        assert warm.start([sys.executable, "-m", PROBE], {**env, warm.ENV: str(tmp_path / "none.sock")}, log) is None
    assert "cannot reach it at" in (tmp_path / "worker.log").read_text()


def test_variables_the_imports_set_count_as_equal():
    before, after = {"OMP_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": "1", "KMP_BLOCKTIME": "0"}
    assert warm.differences({"OMP_NUM_THREADS": "1"}, before, after) == []
    assert warm.differences({"OMP_NUM_THREADS": "1", "KMP_BLOCKTIME": "0"}, before, after) == []
    assert warm.differences({"OMP_NUM_THREADS": "1", "KMP_BLOCKTIME": "5"}, before, after) == ["KMP_BLOCKTIME"]
    assert warm.differences({}, before, after) == ["OMP_NUM_THREADS"]
    assert warm.differences({"OMP_NUM_THREADS": "1", "TUNEFORGE_CACHE": "/x"}, before, after) == []


def test_a_client_that_goes_away_takes_its_worker_with_it(server, env, tmp_path):
    with open(tmp_path / "worker.log", "w") as log:
        started = probe(server, env, log, "--sleep", "120")
        started.stdout.readline()
        assert not gone(started.pid, within=0.5)
        started.conn.close()
        assert gone(started.pid), "the handler kills a worker whose client is gone"


def test_a_handler_that_dies_takes_its_worker_with_it_and_says_so(server, env, tmp_path):
    with open(tmp_path / "worker.log", "w") as log:
        started = probe(server, env, log, "--sleep", "120")
        handler = json.loads(started.stdout.readline())["ppid"]
        os.kill(handler, signal.SIGKILL)
        assert gone(started.pid), "PR_SET_PDEATHSIG: the worker dies with its handler"
        assert started.wait() == (-signal.SIGKILL, None)
    assert f"the warm process's handler for worker {started.pid} died" in (tmp_path / "worker.log").read_text()


def test_it_exits_when_its_callers_end_of_stdin_closes_and_removes_its_socket(tmp_path, env):
    process = WarmProcess(tmp_path, preload="")
    assert process.socket.is_socket()
    process.proc.stdin.close()
    assert process.proc.wait(timeout=30) == 0
    assert not process.socket.exists()
    process.stop()


def test_a_module_that_fails_to_import_is_left_out_and_the_rest_serve(tmp_path, env):
    process = WarmProcess(tmp_path, preload="email.mime.text,no_such_module_here", modules=(PROBE,))
    try:
        assert process.lines("warm: no_such_module_here not preloaded (ModuleNotFoundError: ")
        assert process.lines("warm: ready on ") == [f"warm: ready on {process.socket} (email.mime.text)"]
        with open(tmp_path / "worker.log", "w") as log:
            started = probe(process, env, log)
            assert started is not None and started.wait()[0] == 0
    finally:
        process.stop()


@pytest.mark.parametrize("where, why", [("missing/warm.sock", "No such file or directory"),
                                        ("x" * 120 + ".sock", "AF_UNIX path too long")])
def test_a_socket_path_it_cannot_listen_on_is_named_with_the_reason(tmp_path, where, why):
    import subprocess

    path = tmp_path / where
    proc = subprocess.run([sys.executable, "-m", "tuneforge.cli", "warm", str(path), "--preload", ""],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"Error: cannot listen on {path}: " in proc.stderr and why in proc.stderr, proc.stderr
