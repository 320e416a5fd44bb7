"""pipeline_smoothclap.py: the remote-code zero-shot pipeline shipped with every saved folder.

In-process tests use the project's own modules; the fresh-process test loads a saved folder
with the project NOT on sys.path and HF_MODULES_CACHE in a temporary folder.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import ROOT, tiny_model, tiny_processor, tone

LABELS = ["happy", "sad", "angry", "neutral"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    model, processor = tiny_model(seed=3), tiny_processor()
    with torch.no_grad():  # a sharp scale, so that score differences are not all ~1e-4
        model.logit_scale.log_scale.fill_(np.log(100.0))
    path = tmp_path_factory.mktemp("pipe") / "smoothclap"
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pipes(folder):
    from transformers import ZeroShotAudioClassificationPipeline, pipeline

    from smoothclap.models.pipeline_smoothclap import SmoothClapZeroShotAudioClassificationPipeline

    custom = pipeline("zero-shot-audio-classification", model=str(folder), trust_remote_code=True,
                      pipeline_class=SmoothClapZeroShotAudioClassificationPipeline)
    stock = pipeline("zero-shot-audio-classification", model=str(folder), trust_remote_code=True,
                     pipeline_class=ZeroShotAudioClassificationPipeline)
    return custom, stock


def _as_dict(result):
    return {r["label"]: r["score"] for r in result}


def test_equals_stock_pipeline_on_plain_clip(pipes):
    custom, stock = pipes
    clip = tone(220, 1.3, seed=5)
    for template in ("This is a sound of {}.", "speaker is {}"):
        kwargs = dict(candidate_labels=LABELS, hypothesis_template=template)
        got, ref = custom(clip, **kwargs), stock(clip, **kwargs)
        assert [r["label"] for r in got] == [r["label"] for r in ref]
        for label, score in _as_dict(ref).items():
            assert _as_dict(got)[label] == pytest.approx(score, abs=1e-6)
    assert max(_as_dict(ref).values()) - min(_as_dict(ref).values()) > 1e-3  # scores really differ


def test_inputs_rates_batches_and_cache(pipes, tmp_path):
    custom, _ = pipes
    clip = tone(220, 1.3, seed=5)
    base = _as_dict(custom(clip, candidate_labels=LABELS, sampling_rate=16000))
    # a file, a datasets-style dict, stereo: the same clip gives the same scores
    path = tmp_path / "clip.wav"
    sf.write(path, clip, 16000, subtype="FLOAT")
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([clip, clip], axis=1), 16000, subtype="FLOAT")
    for audio in (str(path), {"array": clip, "sampling_rate": 16000}, str(stereo),
                  {"array": np.stack([clip, clip]), "sampling_rate": 16000}):
        got = _as_dict(custom(audio, candidate_labels=LABELS))
        for label in LABELS:
            assert got[label] == pytest.approx(base[label], abs=1e-5)
    # 44.1 kHz input is resampled: close to the 16 kHz rendering of the same tone
    hi = _as_dict(custom(tone(220, 1.3, sr=44100, seed=5), sampling_rate=44100, candidate_labels=LABELS))
    assert max(abs(hi[x] - base[x]) for x in LABELS) < 0.05
    # a batch (list or 2-D array) = the clips one at a time, in order
    other = tone(600, 0.7, seed=6)
    batch = custom([clip, other], candidate_labels=LABELS, sampling_rate=16000, batch_size=2)
    assert len(batch) == 2
    for got, single in zip(batch, (clip, other)):
        ref = _as_dict(custom(single, candidate_labels=LABELS, sampling_rate=16000))
        assert all(_as_dict(got)[x] == pytest.approx(ref[x], abs=1e-5) for x in LABELS)
    assert len(custom(np.stack([clip, clip]), candidate_labels=LABELS, sampling_rate=16000)) == 2
    # label embeddings are computed once per label set: the text tower does not run again
    calls = []
    hook = custom.model.text_model.register_forward_hook(lambda *a: calls.append(1))
    try:
        custom(clip, candidate_labels=["calm", "tense"], sampling_rate=16000)
        first = len(calls)
        custom(other, candidate_labels=["calm", "tense"], sampling_rate=16000)
        assert first > 0 and len(calls) == first
        custom(other, candidate_labels=["calm", "tense"], hypothesis_template="a {} voice", sampling_rate=16000)
        assert len(calls) > first  # another template is another label set
    finally:
        hook.remove()


def test_ensemble_multilabel_and_windows(pipes):
    from smoothclap.evaluation.evaluate import label_embeddings
    from smoothclap.models.pipeline_smoothclap import audio_embeddings, logit_multiplier

    custom, _ = pipes
    model, proc = custom.model, custom.smoothclap_processor
    clip = tone(330, 1.0, seed=7)
    templates = ["a {} voice", "speaker is {}"]
    got = _as_dict(custom(clip, candidate_labels=LABELS, hypothesis_template=templates, sampling_rate=16000))
    with torch.no_grad():
        a = audio_embeddings(model, proc, [clip])
        probs = (logit_multiplier(model) * a @ label_embeddings(model, proc, LABELS, templates).T).softmax(-1)[0]
    assert all(got[x] == pytest.approx(float(p), abs=1e-5) for x, p in zip(LABELS, probs))
    # multi_label: each label scored against "not <label>"; adding a label changes no other score
    two = _as_dict(custom(clip, candidate_labels=["high pitch", "angry"], multi_label=True, sampling_rate=16000))
    three = _as_dict(custom(clip, candidate_labels=["high pitch", "angry", "sad"], multi_label=True,
                            sampling_rate=16000))
    assert two["angry"] == pytest.approx(three["angry"], abs=1e-6)
    assert abs(sum(three.values()) - 1.0) > 1e-3 and all(0 < v < 1 for v in three.values())
    # long audio in windows: same as audio_embeddings with the same windows
    long = np.concatenate([clip, tone(900, 1.5, seed=8)])
    win = _as_dict(custom(long, candidate_labels=LABELS, window=1.0, hop=0.5, sampling_rate=16000))
    with torch.no_grad():
        a = audio_embeddings(model, proc, [long], window=1.0, hop=0.5)
        probs = (logit_multiplier(model) * a @ label_embeddings(model, proc, LABELS,
                                                                ["This is a sound of {}."]).T).softmax(-1)[0]
    assert all(win[x] == pytest.approx(float(p), abs=1e-5) for x, p in zip(LABELS, probs))


@pytest.mark.parametrize("kwargs, audio, match", [
    (dict(candidate_labels=[]), None, "Empty label list"),
    (dict(candidate_labels=["sad", "sad"]), None, "Duplicate labels"),
    (dict(candidate_labels=["sad"], hypothesis_template="speaker is sad"), None, "must contain '{}'"),
    (dict(candidate_labels=["sad"]), "missing.wav", "Audio file not found"),
    (dict(candidate_labels=["sad"]), b"not audio at all", "Could not read audio"),
])
def test_bad_input(pipes, kwargs, audio, match):
    custom, _ = pipes
    audio = tone(200, 0.5) if audio is None else audio
    with pytest.raises(ValueError, match=match):
        custom(audio, sampling_rate=16000 if isinstance(audio, np.ndarray) else None, **kwargs)



def _audio_forwards(pipe):
    """A list that grows by one per forward of the audio encoder (a real hook, no mock)."""
    calls = []
    return calls, pipe.model.audio_model.register_forward_hook(lambda *a: calls.append(1))


def test_time_channels_arrays_follow_the_processor(pipes, tmp_path):
    """soundfile.read gives (time, channels): with channel_axis= it is one clip, downmixed as
    the file itself; without it the processor's error comes at once (it used to be read as a
    batch of 132,300 two-sample clips: minutes of work, then a conv-kernel RuntimeError)."""
    from smoothclap.models.processing_smoothclap import split_clips

    custom, _ = pipes
    left, right = tone(220, 3.0, sr=44100, seed=5), tone(330, 3.0, sr=44100, seed=6)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    wave, sr = sf.read(path, dtype="float32")
    assert wave.shape == (132300, 2) and sr == 44100
    from_file = _as_dict(custom(str(path), candidate_labels=LABELS))
    for audio, axis in ((wave, 1), (wave.T, 0), (torch.from_numpy(wave), 1), ([wave, wave], 1)):
        got = custom(audio, candidate_labels=LABELS, sampling_rate=sr, channel_axis=axis)
        for result in (got if isinstance(audio, list) else [got]):
            assert all(_as_dict(result)[x] == pytest.approx(from_file[x], abs=1e-5) for x in LABELS)
    assert len(custom([wave, wave], candidate_labels=LABELS, sampling_rate=sr, channel_axis=1)) == 2
    # a dict's (time, channels) array: its channel axis is the smaller one, or the one given
    got = _as_dict(custom({"array": wave, "sampling_rate": sr}, candidate_labels=LABELS, channel_axis=1))
    assert all(got[x] == pytest.approx(from_file[x], abs=1e-5) for x in LABELS)

    calls, hook = _audio_forwards(custom)
    try:
        with pytest.raises(ValueError) as refused:
            custom(wave, candidate_labels=LABELS, sampling_rate=sr)
        with pytest.raises(ValueError) as by_processor:
            split_clips(wave)
        assert str(refused.value) == str(by_processor.value)
        assert "(132300, 2)" in str(refused.value) and "channel_axis=1" in str(refused.value)
        with pytest.raises(ValueError, match=r"audio\[1\] is a 2-D array inside a batch list"):
            custom([wave[:, 0], wave], candidate_labels=LABELS, sampling_rate=sr)
        with pytest.raises(ValueError, match="channel_axis must be 0 or 1"):
            custom(wave, candidate_labels=LABELS, sampling_rate=sr, channel_axis=2)
        assert calls == []  # refused before the audio encoder ran
    finally:
        hook.remove()


def test_clips_too_short_for_the_encoder_are_refused_first(pipes):
    """A clip shorter than the convolutions' receptive field (400 samples at 16 kHz) is named
    before any clip is embedded, e.g. the rows of a 16-channel (time, channels) array."""
    from smoothclap.models.pipeline_smoothclap import audio_embeddings, min_audio_samples

    custom, _ = pipes
    assert min_audio_samples(custom.model) == 400
    calls, hook = _audio_forwards(custom)
    try:
        with pytest.raises(ValueError, match=r"audio\[0\] is 16 samples \(1.0 ms at 16000 Hz\), shorter than the "
                                             r"400 samples \(25 ms\).*pass channel_axis=1"):
            custom(np.zeros((48000, 16), np.float32), candidate_labels=LABELS, sampling_rate=16000)
        with pytest.raises(ValueError, match=r"audio\[1\] is 399 samples"):
            custom([tone(200, 0.5), tone(200, 399 / 16000)], candidate_labels=LABELS, sampling_rate=16000)
        with pytest.raises(ValueError, match=r"audio\[1\] is 100 samples"):  # in a padded batch too
            audio_embeddings(custom.model, custom.smoothclap_processor, [tone(200, 0.5), tone(200, 0.00625)],
                             batch_size=2)
        assert calls == []
    finally:
        hook.remove()
    assert len(custom(tone(200, 400 / 16000), candidate_labels=LABELS, sampling_rate=16000)) == len(LABELS)


CHILD = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    from transformers import ZeroShotAudioClassificationPipeline, pipeline
    folder, root = sys.argv[1], sys.argv[2]
    assert all(os.path.abspath(p or ".") != root for p in sys.path), sys.path
    clip = np.load(os.path.join(folder, "..", "clip.npy"))
    labels = ["happy", "sad", "angry", "neutral"]
    custom = pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True)
    stock = pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True,
                     pipeline_class=ZeroShotAudioClassificationPipeline)
    out = {
        "custom": type(custom).__name__, "module": type(custom).__module__,
        "stock": type(stock).__name__,
        "custom_scores": custom(clip, candidate_labels=labels),
        "stock_scores": stock(clip, candidate_labels=labels),
        "file": custom(os.path.join(folder, "..", "clip.wav"), candidate_labels=labels),
        "multi": custom([clip, clip], candidate_labels=labels, multi_label=True, hypothesis_template=["{}", "a {} voice"]),
    }
    # a folder saved from the remote-code model still carries the pipeline file
    resaved = os.path.join(folder, "..", "resaved")
    custom.model.save_pretrained(resaved)
    out["resaved"] = sorted(os.listdir(resaved))
    print(json.dumps(out))
    """
)


def test_loads_from_saved_folder_in_fresh_process(folder, tmp_path):
    config = json.loads((folder / "config.json").read_text())
    impl = config["custom_pipelines"]["zero-shot-audio-classification"]["impl"]
    assert impl == "pipeline_smoothclap.SmoothClapZeroShotAudioClassificationPipeline"
    assert (folder / "pipeline_smoothclap.py").is_file()
    clip = tone(250, 1.1, seed=9)
    np.save(folder.parent / "clip.npy", clip)
    sf.write(folder.parent / "clip.wav", clip, 16000, subtype="FLOAT")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), PYTHONNOUSERSITE="1")
    proc = subprocess.run([sys.executable, str(script), str(folder), ROOT], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["custom"] == "SmoothClapZeroShotAudioClassificationPipeline"
    assert out["module"].startswith("transformers_modules"), out["module"]  # really the remote code
    assert out["stock"] == "ZeroShotAudioClassificationPipeline"
    ref = _as_dict(out["stock_scores"])
    for key in ("custom_scores", "file"):
        got = _as_dict(out[key])
        assert all(got[x] == pytest.approx(ref[x], abs=1e-5) for x in LABELS), key
    assert len(out["multi"]) == 2 and out["multi"][0] == out["multi"][1]
    assert "pipeline_smoothclap.py" in out["resaved"] and "modeling_smoothclap.py" in out["resaved"]


# --------------------------------------------------------------------------- smoothclap-classify
def test_classify_command(folder, tmp_path, capsys):
    import smoothclap.inference.classify as smoothclap_classify

    a, b = tmp_path / "a.wav", tmp_path / "b.flac"
    sf.write(a, tone(220, 1.3, seed=5), 16000)
    sf.write(b, np.stack([tone(500, 0.9), tone(500, 0.9)], axis=1), 44100)  # stereo, 44.1 kHz
    results = smoothclap_classify.main([str(a), str(b), "--labels", "happy, sad,angry", "--model", str(folder),
                                        "--template", "speaker is {}", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == results and list(printed) == [str(a), str(b)]
    assert sorted(r["label"] for r in printed[str(a)]) == ["angry", "happy", "sad"]
    smoothclap_classify.main([str(a), "--labels", "happy,sad,angry", "--model", str(folder), "--top", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == str(a) and len(lines) == 3 and lines[1].strip().startswith("1. ")


@pytest.mark.parametrize("args, match, code", [
    (["--labels", ""], "Empty label list", 2),
    (["--labels", "sad,sad"], "Duplicate labels", 2),
    (["--labels", "sad", "--template", "no placeholder"], "must contain '{}'", 2),
    (["--labels", "sad", "--model", "/nonexistent/model"], "not found", 2),
    (["--labels", "sad", "FILE:broken.wav"], "Could not read audio", 1),
])
def test_classify_bad_input(folder, tmp_path, capsys, args, match, code):
    import smoothclap.inference.classify as smoothclap_classify

    clip = tmp_path / "ok.wav"
    sf.write(clip, tone(220, 0.5), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF but not really a wav")
    files = [str(clip)] + [str(tmp_path / a[5:]) for a in args if a.startswith("FILE:")]
    args = [a for a in args if not a.startswith("FILE:")]
    if "--model" not in args:
        args += ["--model", str(folder)]
    with pytest.raises(SystemExit) as info:
        smoothclap_classify.main(files + args)
    assert info.value.code == code
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
