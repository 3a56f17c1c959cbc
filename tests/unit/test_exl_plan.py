"""EXL2/EXL3 planning on CPU: the converter commands, shared measurement, resumption, the CPU refusal."""

import subprocess
import sys
from pathlib import Path

import yaml
from support.builders import quantize

from tuneforge.api.quantize import QuantizeSpec
from tuneforge.backends.exl2.plan import resume_flag, steps

MODEL, OUT = Path("/models/smol"), Path("/out/job")


def arg(command, flag):
    """The value after a converter flag (past "python -m module", whose -m is not the converter's)."""
    rest = list(command[3:])
    return rest[rest.index(flag) + 1]


def settings(method, **values):
    return QuantizeSpec.model_validate({"method": method, "model": {"uri": "builtin://smollm2-135m-instruct"}, "resources": {"gpus": 1},
                                        method: values}).settings()


def test_exl2_measures_once_and_reuses_it_for_every_bitrate():
    found = steps("exl2", settings("exl2", bitsPerWeight=[4.0, 6.5], headBits=8, calibrationRows=10,
                                   calibrationLength=256), MODEL, OUT, "smol", python="python")
    assert [s.name for s in found] == ["measure", "4 bpw", "6.5 bpw"]
    measure = found[0].command
    assert measure[:3] == ("python", "-m", "exllamav2.conversion.convert_exl2")
    assert arg(measure, "-om") == "/out/job/measurement.json"
    assert found[0].produces == "measurement.json"
    for step, bits in zip(found[1:], ("4", "6.5")):
        c = step.command
        assert arg(c, "-m") == "/out/job/measurement.json"
        assert arg(c, "-b") == bits and arg(c, "-hb") == "8"
        # The converter writes a partial folder; the worker renames it to the output once complete.
        assert arg(c, "-cf") == f"/out/job/.work/smol-{bits}bpw-exl2.partial" == str(OUT / step.partial)
        assert step.produces == f"smol-{bits}bpw-exl2"
        # Each bitrate has its own resumable working directory.
        assert arg(c, "-o") == f"/out/job/.work/smol-{bits}bpw-exl2"
        assert arg(c, "-c") == "/out/job/.work/calibration.parquet"
        assert arg(c, "-r") == "10" and arg(c, "-l") == "256"


def test_exl3_converts_each_bitrate_with_packed_calibration_tokens():
    found = steps("exl3", settings("exl3", bitsPerWeight=[3.0]), MODEL, OUT, "smol", python="python")
    (step,) = found
    c = step.command
    assert c[:3] == ("python", "-m", "exllamav3.conversion.convert_model")
    assert arg(c, "-w") == "/out/job/.work/smol-3bpw-exl3" == str(OUT / step.work)
    assert arg(c, "-o") == "/out/job/.work/smol-3bpw-exl3.partial" and step.produces == "smol-3bpw-exl3"
    assert arg(c, "-cd") == "/out/job/.work/calibration.safetensors"
    assert arg(c, "-cr") == "100" and arg(c, "-cc") == "2048" and arg(c, "-hb") == "6"


def test_exl3_resumes_only_a_working_directory_it_wrote(tmp_path):
    assert resume_flag("exl3", tmp_path) == ()
    (tmp_path / "args.json").write_text("{}")
    assert resume_flag("exl3", tmp_path) == ("-r",)
    assert resume_flag("exl2", tmp_path) == ()  # exllamav2 resumes from its job.json by itself


def test_worker_without_cuda_exits_2_with_the_reason(tmp_path):
    spec = tmp_path / "exl2.yaml"
    spec.write_text(yaml.safe_dump(dict(quantize("exl2", name="e"))))
    proc = subprocess.run([sys.executable, "-m", "tuneforge.worker", "--spec", str(spec), "--output", str(tmp_path / "o")],
                          capture_output=True, text=True, env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin",
                                                               "PYTHONPATH": ":".join(sys.path)}, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: spec.resources.gpus: exl2 converts on a CUDA GPU and none is visible here" in proc.stderr
