"""The web demo in a real browser: `python space/app.py --model DIR --port P` as a real server
process, headless Chromium (Debian's /usr/bin/chromium) driven by Playwright uploads a clip,
types labels and templates, clicks Classify, and the top label and score on the page must be
the model's own pipeline answer for the same file; then one error case (no labels), then an
example (--examples: a click fills the inputs; the answer is the pipeline's), then bad uploads
(a non-audio file, a silent clip, a clip over the length cap, a file over --max-upload-mb), each
with its message in the page. The page and the server must not touch the network. Screenshots:
tests/artifacts/space.png (the answer), space-error.png (no labels), space-not-audio.png,
space-silence.png, space-too-long.png, space-too-big.png, kept for inspection (git-ignored).

Without Playwright or Chromium this test FAILS (it never skips): install them with
`apt-get install -y chromium` and `pip install -e ".[test]"` (.ci/run does both). Playwright's
own browser download (`playwright install`) is not needed and does not work offline.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, tone
from test_train_accelerate import write_tiny_model

APP = os.path.join(ROOT, "space", "app.py")
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LABELS = ["angry", "happy", "sad", "neutral"]
TEMPLATES = ["this person is feeling {}.", "the speaker sounds {}."]  # an ensemble: both must reach the model
SERVER_START_TIMEOUT = 240  # s: gradio + transformers import and the model load, on a busy 2-core machine
UI_TIMEOUT = 90_000  # ms for any one wait in the page
MAX_SECONDS, MAX_UPLOAD_MB = 2.0, 1.0  # small limits: small files show them (the clips above are <= 2 s)

# Imported by the server process (PYTHONPATH): records every connection and DNS lookup the
# server makes to anything but this machine, through Python's audit hooks.
NETWORK_AUDIT = textwrap.dedent('''
    import os
    import sys

    _LOG = os.environ["SMOOTHCLAP_NETWORK_AUDIT"]
    _LOCAL = ("127.", "::1", "localhost", "0.0.0.0")
    open(_LOG, "a").close()  # the file's existence shows the hook was installed

    def _hook(event, args):
        if event == "socket.connect" and isinstance(args[1], tuple):
            host = args[1][0]
        elif event == "socket.getaddrinfo":
            host = args[0]
        else:
            return
        host = host.decode() if isinstance(host, bytes) else str(host)
        if host and not host.startswith(_LOCAL):
            with open(_LOG, "a") as f:
                f.write(f"{event} {host}\\n")

    sys.addaudithook(_hook)
''')


def require_browser():
    """Playwright and Debian's Chromium, or a failure that says how to install them."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        pytest.fail("The browser test needs Playwright for Python: pip install playwright (or pip install -e "
                    "'.[test]'). Do not run `playwright install`: the test drives Debian's Chromium.")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"The browser test needs Chromium at {CHROMIUM}: apt-get update && apt-get install -y chromium "
                    "(as root; .ci/run does it).")
    try:
        import gradio  # noqa: F401
    except ImportError:
        pytest.fail("The web demo needs gradio: pip install gradio (or pip install -e '.[test]').")


def top_text(ranked) -> str:
    """What the page's top-label box shows for a ranked answer (4 decimals)."""
    return f"{ranked[0]['label']} ({ranked[0]['score']:.4f})"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_url(proc, out_path, err_path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = open(out_path, encoding="utf-8", errors="replace").read()
        found = re.search(r"SmoothCLAP app running at (http://\S+)", text)
        if found:
            return found.group(1)
        if proc.poll() is not None:
            pytest.fail(f"space/app.py exited with {proc.returncode} before printing its URL:\n{text}\n"
                        + open(err_path, encoding="utf-8", errors="replace").read()[-3000:])
        time.sleep(0.25)
    pytest.fail(f"space/app.py printed no URL within {timeout} s:\n"
                + open(err_path, encoding="utf-8", errors="replace").read()[-3000:])


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def upload(page, path):
    """Put a file in the clip box: first dismiss a refusal's message (it covers the box's buttons)
    and empty the box (its file input exists only while it is empty)."""
    dismiss = page.locator("#clip .validation-error button")
    if dismiss.count():
        dismiss.first.click()
    clear = page.locator("#clip").get_by_role("button", name="Clear")
    if clear.count():
        clear.first.click()
    page.locator("#clip input[type=file]").set_input_files(str(path))


def bad_uploads(page, expect, folder) -> str:
    """A non-audio file, silence, a clip over the cap, a file over --max-upload-mb: each shows its
    message in the page (over the clip box, or gradio's notice for the file size)."""
    notes = folder / "notes.wav"
    notes.write_text("these are my meeting notes, not audio\n" * 40)
    silent = folder / "silent.wav"
    sf.write(str(silent), np.zeros(16000, dtype=np.float32), 16000)
    too_long = folder / "too-long.flac"
    sf.write(str(too_long), tone(freq=200.0, seconds=10 * MAX_SECONDS + 1), 16000)
    too_big = folder / "too-big.wav"
    sf.write(str(too_big), tone(seconds=MAX_UPLOAD_MB * 2**20 / 2 / 16000 + 2), 16000, subtype="PCM_16")
    shown = ""
    for path, message, shot in (
            (notes, "Cannot read the audio file 'notes.wav' (format not recognised). Upload WAV, FLAC, OGG or MP3.",
             "space-not-audio.png"),
            (silent, "The clip 'silent.wav' is silent (loudest sample -inf dBFS, under -60 dBFS): nothing to classify",
             "space-silence.png"),
            (too_long, f"The clip 'too-long.flac' is {10 * MAX_SECONDS + 1:.1f} s long: this page takes clips up to "
                       f"{10 * MAX_SECONDS:g} s", "space-too-long.png")):
        upload(page, path)
        expect(page.locator("#clip a.download-link")).to_have_attribute(
            "href", re.compile(re.escape(path.name) + "$"), timeout=UI_TIMEOUT)
        page.locator("#classify").click()
        expect(page.locator("#clip .validation-error")).to_contain_text(message, timeout=UI_TIMEOUT)
        expect(page.locator("#top textarea")).to_have_value("", timeout=UI_TIMEOUT)
        page.screenshot(path=os.path.join(ARTIFACTS, shot), full_page=True)
        shown += page.locator("body").inner_text()
    upload(page, too_big)
    # gradio's own notice: an "Error" toast (gradio 6.31 folds its text, 'File(s) exceed the maximum
    # allowed size of 1.0 MB: "too-big.wav"', under that title) and an "Error" mark on the box,
    # which stays empty: the file is never sent (the page's limits line says "files up to 1 MB")
    expect(page.locator(".toast-body.error").first).to_be_visible(timeout=UI_TIMEOUT)
    page.screenshot(path=os.path.join(ARTIFACTS, "space-too-big.png"), full_page=True)
    expect(page.locator("#clip")).to_contain_text("Drop Audio Here", timeout=UI_TIMEOUT)
    expect(page.locator("#limits")).to_contain_text(f"files up to {MAX_UPLOAD_MB:g} MB")
    return shown + page.locator("body").inner_text()


@pytest.fixture(scope="module")
def sharp_model(tmp_path_factory):
    """The tiny random-weight model with a small prediction temperature (tau_pred): its scores
    for these labels differ in the second decimal instead of the fifth, so the top label is
    unambiguous at the page's precision."""
    return write_tiny_model(tmp_path_factory.mktemp("space-model") / "smoothclap", tau_pred=0.01)


def test_page_classifies_a_clip_as_the_pipeline_does(sharp_model, tmp_path):
    require_browser()
    from playwright.sync_api import expect, sync_playwright
    from transformers import pipeline

    clip = tmp_path / "clip.wav"
    sf.write(str(clip), tone(freq=180.0, seconds=1.5), 16000)
    examples = tmp_path / "examples"  # --examples: one stereo 22.05 kHz clip, shown with the default labels
    examples.mkdir()
    example = examples / "example.wav"
    sf.write(str(example), np.stack([tone(freq=300.0, seconds=2.0, sr=22050, seed=1),
                                     tone(freq=240.0, seconds=2.0, sr=22050, seed=2)], axis=1), 22050)
    clf = pipeline("zero-shot-audio-classification", model=sharp_model, trust_remote_code=True)
    expected = clf(str(clip), candidate_labels=LABELS, hypothesis_template=TEMPLATES)
    expected_example = clf(str(example), candidate_labels=["angry", "happy", "sad", "neutral"],
                           hypothesis_template="this person is feeling {}.")  # the app's defaults
    one_template = clf(str(clip), candidate_labels=LABELS, hypothesis_template=TEMPLATES[0])
    assert expected[0]["score"] - expected[1]["score"] > 1e-3, f"labels too close to tell apart: {expected}"
    assert top_text(one_template) != top_text(expected), (
        "the ensemble must give another answer than its first template alone, or the test could not see a "
        f"template dropped on the way: {expected} vs {one_template}")

    os.makedirs(ARTIFACTS, exist_ok=True)
    audit_dir, audit_log = tmp_path / "audit", tmp_path / "network.log"
    audit_dir.mkdir()
    (audit_dir / "sitecustomize.py").write_text(NETWORK_AUDIT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(audit_dir), "SMOOTHCLAP_NETWORK_AUDIT": str(audit_log),
           "HF_HUB_OFFLINE": "1", "GRADIO_TEMP_DIR": str(tmp_path / "gradio-tmp")}
    env.pop("SMOOTHCLAP_MODEL", None)
    port = free_port()
    out_path, err_path = tmp_path / "app.out", tmp_path / "app.err"
    timings = {}
    started = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, APP, "--model", sharp_model, "--port", str(port),
                                 "--examples", str(examples), "--max-seconds", str(MAX_SECONDS),
                                 "--max-upload-mb", str(MAX_UPLOAD_MB)],
                                cwd=str(tmp_path), env=env, stdout=out, stderr=err)
    try:
        url = wait_for_url(proc, out_path, err_path, SERVER_START_TIMEOUT)
        timings["server_ready_s"] = round(time.monotonic() - started, 1)
        assert url == f"http://127.0.0.1:{port}/"
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 1000})
            try:
                context.set_default_timeout(UI_TIMEOUT)
                page = context.new_page()
                requested = []
                page.on("request", lambda request: requested.append(request.url))
                t0 = time.monotonic()
                page.goto(url)
                expect(page.locator("#model-status")).to_contain_text(f"Model: {sharp_model}", timeout=UI_TIMEOUT)
                timings["page_load_s"] = round(time.monotonic() - t0, 1)

                page.locator("#clip input[type=file]").set_input_files(str(clip))
                # the upload is done when the player offers the uploaded file for download
                expect(page.locator("#clip a.download-link")).to_have_attribute("href", re.compile(r"clip\.wav$"),
                                                                                timeout=UI_TIMEOUT)
                page.locator("#labels textarea").fill(", ".join(LABELS))
                page.locator("#templates textarea").fill("\n".join(TEMPLATES))
                t0 = time.monotonic()
                page.locator("#classify").click()
                expect(page.locator("#status")).to_contain_text("Done in", timeout=UI_TIMEOUT)
                timings["classify_s"] = round(time.monotonic() - t0, 1)
                shown = page.locator("#top textarea").input_value()
                bars = page.locator("#scores").inner_text()
                page.screenshot(path=os.path.join(ARTIFACTS, "space.png"), full_page=True)

                # one error case: no labels -> the message at the labels box, at once; the old answer cleared
                page.locator("#labels textarea").fill("")
                page.locator("#classify").click()
                expect(page.locator("#labels")).to_contain_text("No labels: type at least one label",
                                                                timeout=UI_TIMEOUT)
                expect(page.locator("#top textarea")).to_have_value("", timeout=UI_TIMEOUT)
                page.screenshot(path=os.path.join(ARTIFACTS, "space-error.png"), full_page=True)
                error_text = page.locator("body").inner_text()
                page.locator("#labels textarea").fill(", ".join(LABELS))

                # an example: one click fills clip, labels and template; Classify answers for it
                page.locator("table").get_by_text("example.wav").click()
                expect(page.locator("#clip a.download-link")).to_have_attribute(
                    "href", re.compile(r"example\.wav$"), timeout=UI_TIMEOUT)
                expect(page.locator("#labels textarea")).to_have_value("angry, happy, sad, neutral")
                page.locator("#classify").click()
                expect(page.locator("#top textarea")).to_have_value(top_text(expected_example), timeout=UI_TIMEOUT)
                error_text += bad_uploads(page, expect, tmp_path)
            finally:
                context.close()
    finally:
        stop(proc)
        shutil.copy(err_path, os.path.join(ARTIFACTS, "space-server.log"))
    timings["test_total_s"] = round(time.monotonic() - started, 1)
    with open(os.path.join(ARTIFACTS, "space_timings.json"), "w") as f:
        json.dump(timings, f, indent=1)

    # the page's answer is the pipeline's, at the page's precision (4 decimals)
    match = re.fullmatch(r"(.+) \((\d\.\d{4})\)", shown)
    assert match, f"top label box shows {shown!r}"
    assert match.group(1) == expected[0]["label"], (shown, expected)
    assert abs(float(match.group(2)) - expected[0]["score"]) <= 0.5e-4 + 1e-6, (shown, expected)
    # the bars: every label, ranked as the pipeline ranks them, with its percentage
    lines = [line.strip() for line in bars.splitlines() if line.strip()]
    ranked = [line for line in lines[lines.index(expected[0]["label"]) + 1:] if line in LABELS]
    assert ranked == [r["label"] for r in expected], bars
    percents = [int(x) for x in re.findall(r"(\d+)%", bars)]
    assert percents == [round(100 * r["score"]) for r in expected], bars
    assert "Traceback" not in error_text

    # no network: the page asked only its own server, the server asked no one
    hosts = {re.match(r"[a-z]+://([^/]+)", u).group(1) for u in requested if re.match(r"https?://", u)}
    assert hosts == {f"127.0.0.1:{port}"}, f"the page requested other hosts: {sorted(hosts)}"
    assert audit_log.exists(), "the network audit hook was not installed in the server process (PYTHONPATH?)"
    assert audit_log.read_text() == "", f"the server tried to reach the network:\n{audit_log.read_text()}"
    assert "Traceback" not in err_path.read_text(), err_path.read_text()[-3000:]
    print(f"space browser test timings: {timings}")
