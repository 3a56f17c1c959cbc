"""The progress protocol: what workers print and what the operator and `tuneforge run` read."""

import io
import json

from tuneforge.worker.progress import Reporter, human_eta, parse_line


def lines(buf: io.StringIO) -> list[tuple[str, dict]]:
    return [parse_line(line) for line in buf.getvalue().splitlines()]


def test_progress_is_rate_limited_but_the_last_step_always_goes_out(tmp_path):
    buf = io.StringIO()
    rep = Reporter(out=buf, interval=3600, termination_log=str(tmp_path / "term"))
    for step in range(1, 11):
        rep.progress(step, 10, loss=1.0 / step)
    events = lines(buf)
    assert [e[1]["step"] for e in events] == [1, 10]
    last = events[-1][1]
    assert last["percent"] == 100 and last["totalSteps"] == 10 and last["loss"] == 0.1 and last["etaSeconds"] == 0


def test_result_goes_to_stdout_and_the_termination_message(tmp_path):
    buf = io.StringIO()
    term = tmp_path / "termination-log"
    Reporter(out=buf, termination_log=str(term)).result({"uri": "pvc://m/x", "files": 3})
    assert lines(buf) == [("result", {"uri": "pvc://m/x", "files": 3})]
    assert parse_line(term.read_text()) == ("result", {"uri": "pvc://m/x", "files": 3})


def test_termination_message_is_capped(tmp_path):
    term = tmp_path / "t"
    Reporter(out=io.StringIO(), termination_log=str(term)).result({"big": "x" * 10_000})
    assert len(term.read_text()) == 4096


def test_other_lines_are_not_protocol():
    assert parse_line("loss went down") is None
    assert parse_line("::tuneforge::progress not-json") is None
    assert parse_line('::tuneforge::progress ' + json.dumps([1, 2])) is None


def test_human_eta():
    assert [human_eta(s) for s in (5, 125, 7300, None, float("inf"))] == ["5s", "2m", "2h01m", None, None]
