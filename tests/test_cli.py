"""The `smoothclap` command and the scripts' exit statuses, help texts and progress output, from
a clone (tests/test_wheel.py runs the installed console scripts from a wheel)."""

import contextlib
import io
import os
import subprocess
import sys

import pytest

from conftest import ROOT

COMMANDS = ["demo", "build", "train", "evaluate", "classify", "export-onnx", "publish", "app"]


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    from processes import reset_accelerate_state

    yield
    reset_accelerate_state()


def run_cli(capsys, *argv):
    import smoothclap.cli as smoothclap_cli

    status = smoothclap_cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_top_level_help_lists_every_command(capsys):
    status, out, _ = run_cli(capsys, "--help")
    assert status == 0 and out.startswith("usage: smoothclap ")
    listed = [line.split()[0] for line in out.split("commands:")[1].splitlines()[2:] if line.startswith("    ")
              and not line.startswith("     ")]
    assert listed == COMMANDS
    status, _, err = run_cli(capsys)
    assert status == 2 and "COMMAND" in err
    status, _, err = run_cli(capsys, "trian", "--help")
    assert status == 2 and err.splitlines()[-1] == (
        "error: unknown command 'trian' (did you mean train?); commands: " + ", ".join(COMMANDS) + ".")


@pytest.mark.parametrize("name, words", [
    ("demo", ["--quick", "--output"]), ("build", ["--list", "--data-dir", "corpus"]),
    ("train", ["--config", "msp_podcast.yaml", "--dataset"]), ("evaluate", ["--dataset", "--no-progress"]),
    ("classify", ["--labels", "--template"])])
def test_each_command_help_names_itself(capsys, name, words):
    status, out, _ = run_cli(capsys, name, "--help")
    assert status == 0 and out.startswith(f"usage: smoothclap {name} "), out[:200]
    assert all(w in out for w in words)


def test_evaluate_help_example_is_the_demo_model_folder(capsys):
    _, out, _ = run_cli(capsys, "evaluate", "--help")
    example = out.split("Example")[1]
    assert "--model smoothclap-demo/smoothclap --dataset smoothclap-demo/cache/demo" in example
    assert "smoothclap evaluate --model" in example


@pytest.mark.parametrize("name, module", [("publish", "smoothclap/release/publish.py"), ("app", "space/app.py")])
def test_publish_and_app_dispatch_or_say_they_are_missing(capsys, name, module):
    """Written by other branches: once their module is here, `--help` is theirs; before, one error line."""
    status, out, err = run_cli(capsys, name, "--help")
    if os.path.isfile(os.path.join(ROOT, module)):
        assert status == 0 and f"smoothclap {name}" in out
    else:
        assert status == 1 and err.count("\n") == 1 and err.startswith(f"error: `smoothclap {name}` is not available")


def test_a_missing_dependency_is_not_reported_as_a_missing_command(monkeypatch, capsys):
    """Only the command's own module missing means "not in this installation"."""
    import smoothclap.cli as smoothclap_cli

    monkeypatch.setitem(smoothclap_cli.COMMANDS, "publish", ("smoothclap_no_such_module", "main", "x"))
    status, _, err = run_cli(capsys, "publish")
    assert status == 1 and "no module smoothclap_no_such_module" in err
    monkeypatch.setitem(sys.modules, "smoothclap_fake_cmd", type(sys)("smoothclap_fake_cmd"))
    exec("def main(argv):\n    import smoothclap_missing_dependency\n", sys.modules["smoothclap_fake_cmd"].__dict__)
    monkeypatch.setitem(smoothclap_cli.COMMANDS, "publish", ("smoothclap_fake_cmd", "main", "x"))
    with pytest.raises(ModuleNotFoundError, match="smoothclap_missing_dependency"):
        run_cli(capsys, "publish")


def test_build_list_and_usage_errors(capsys):
    status, out, _ = run_cli(capsys, "build", "--list")
    assert status == 0 and "msp_podcast" in out and "demo" in out
    status, _, err = run_cli(capsys, "build", "demo")  # no --output
    assert status == 2 and "error: give a corpus name and --output" in err


# --------------------------------------------------------------------------- exit statuses
def test_classify_cli_exit_statuses(tiny_smoothclap, tmp_path, capsys):
    """0 done (the old console script exited 1: main() returned a dict), 1 a file failed, 2 bad input."""
    import soundfile

    import smoothclap.inference.classify as smoothclap_classify
    from conftest import tone

    clip, broken = tmp_path / "a.wav", tmp_path / "broken.wav"
    soundfile.write(clip, tone(220.0), 16000)
    broken.write_bytes(b"not audio")
    common = ["--labels", "happy,sad", "--model", tiny_smoothclap]
    assert smoothclap_classify.cli([str(clip), *common]) == 0
    assert "happy" in capsys.readouterr().out
    assert smoothclap_classify.cli([str(clip), str(broken), *common]) == 1
    assert "error: " + str(broken) in capsys.readouterr().err
    assert smoothclap_classify.cli([str(clip), "--labels", "happy", "--model", tiny_smoothclap, "--top", "0"]) == 2
    proc = subprocess.run([sys.executable, "-m", "smoothclap", "classify", str(clip), *common],
                          capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0 and "happy" in proc.stdout, proc.stderr[-2000:]


def test_evaluate_cli_exit_statuses_and_no_progress(tiny_data, tiny_smoothclap, tmp_path, capfd):
    """0 done; 2 bad input; --no-progress silences transformers' "Loading weights" and datasets'
    bars too, not only the runner's own."""
    import smoothclap.evaluation.evaluate as evaluate_zeroshot

    common = ["--model", tiny_smoothclap, "--dataset", tiny_data, "--bootstrap", "10"]
    assert evaluate_zeroshot.cli([*common, "--output-dir", str(tmp_path / "quiet"), "--no-progress"]) == 0
    out, err = capfd.readouterr()
    assert "| synthetic/default |" in out  # the results table
    assert "%|" not in err and "Loading weights" not in err, err[-2000:]
    assert evaluate_zeroshot.cli([*common, "--output-dir", str(tmp_path / "bars")]) == 0
    assert "%|" in capfd.readouterr().err  # the control: bars without the flag
    assert evaluate_zeroshot.cli([*common, "--output-dir", str(tmp_path / "x"), "--window", "0"]) == 2
    assert capfd.readouterr().err.strip() == "error: --window must be > 0 seconds, got 0.0."


def test_evaluate_script_exits_0(tiny_data, tiny_smoothclap, tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "evaluate_zeroshot.py"), "--model", tiny_smoothclap,
                           "--dataset", tiny_data, "--output-dir", str(tmp_path / "eval"), "--no-progress",
                           "--bootstrap", "10"], capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "eval" / "results.json").is_file()


# --------------------------------------------------------------------------- training output
def train_flags(data, model, out, *extra):
    return ["--dataset", str(data), "--model", str(model), "--output-dir", str(out), "--batch-size", "4",
            "--epochs", "1", "--max-steps", "2", "--max-duration", "1.0", "--report-to", "none",
            "--crops-per-clip", "1", "--no-feature-cache", *map(str, extra)]


def test_train_no_progress_bar_silences_library_bars(tiny_data, tiny_smoothclap, tmp_path, capfd):
    import smoothclap.training.trainer as train_accelerate

    assert train_accelerate.cli(train_flags(tiny_data, tiny_smoothclap, tmp_path / "run", "--no-progress-bar"),
                                prog="smoothclap train") == 0
    out, err = capfd.readouterr()
    assert "validation UAR" in out
    assert "%|" not in err and "Loading weights" not in err, err[-2000:]


def test_train_validation_lines_are_not_glued_to_the_bar(tiny_data, tiny_smoothclap, tmp_path):
    """With the bar on, every log line starts a line of its own on a terminal (both streams
    into one, as a terminal or `2>&1` shows them): what follows the last carriage return of
    each line is the message, not the bar."""
    import smoothclap.training.trainer as train_accelerate

    screen = io.StringIO()
    with contextlib.redirect_stdout(screen), contextlib.redirect_stderr(screen):
        train_accelerate.main(train_flags(tiny_data, tiny_smoothclap, tmp_path / "run"))
    lines = screen.getvalue().split("\n")
    assert any("train:" in line and "%|" in line for line in lines)  # the bar was drawn
    logged = [line for line in lines if "validation UAR" in line or "mean train loss" in line]
    assert len(logged) == 2
    assert all(line.split("\r")[-1].startswith("epoch 0: ") for line in logged), logged


# --------------------------------------------------------------------------- shipped configs
def test_config_by_name_from_any_folder(tmp_path, monkeypatch):
    """--config msp_podcast.yaml (or configs/msp_podcast.yaml) outside a clone is the shipped
    file; a file that exists wins; an unknown name lists the shipped ones."""
    from smoothclap.training.config import TrainingConfigError, parse_args

    monkeypatch.chdir(tmp_path)
    shipped = os.path.join(ROOT, "configs", "msp_podcast.yaml")
    for given in ("msp_podcast.yaml", "msp_podcast", "configs/msp_podcast.yaml"):
        args = parse_args(["--config", given])
        assert os.path.samefile(args.config, shipped) and args.dataset == "data/msp_podcast" and args.beta == 0.5
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "msp_podcast.yaml").write_text("beta: 0.25\n")
    assert parse_args(["--config", "configs/msp_podcast.yaml"]).beta == 0.25
    with pytest.raises(TrainingConfigError, match=r"file not found \(the package ships msp_podcast.yaml, "
                                                  r"paraclap_baseline.yaml"):
        parse_args(["--config", "nope.yaml"])
    with pytest.raises(TrainingConfigError, match="file not found"):
        parse_args(["--config", "elsewhere/msp_podcast.yaml"])  # only a bare name or configs/NAME falls back
