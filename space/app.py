"""SmoothCLAP web demo: zero-shot paralinguistic classification of one clip, in the shape of a
Hugging Face Space (gradio).

    python space/app.py --model DIR_OR_REPO [--port 7860] [--host 127.0.0.1] [--examples DIR]
        [--concurrency 2] [--max-queue 16] [--max-seconds 60] [--max-upload-mb 50]

or, on a Space, ``python app.py`` with the model named by the ``SMOOTHCLAP_MODEL`` variable
(the Space's settings). The page: upload or record a clip, type labels (comma-separated) and
one or more templates (one per line, each with ``{}`` where the label goes), press Classify;
it shows the ranked scores as bars, the top label with its score, and any error (no labels,
unreadable audio, a model folder that cannot load) in a status line, never a traceback.

The model is any SmoothCLAP folder or Hub repo id: the page runs the pipeline the model ships,
``pipeline("zero-shot-audio-classification", model=..., trust_remote_code=True)``, so its
scores are exactly that pipeline's. Examples come from ``--examples DIR`` (audio files), from
an ``examples/`` folder in the model folder or next to this file, from the demo corpus next
to a ``demo.py`` model folder (``smoothclap-demo/cache/demo``: one held-out clip per
emotion), or else from generated tones; missing sources are skipped.

Standalone on purpose: it imports gradio, torch, transformers, numpy and soundfile (and
pyarrow only to read a local demo corpus, when there is one), never the SmoothCLAP
repository's own modules; a Space holds only this folder and pulls the model's code from the
model repo. Under load (docs/web_demo.md): gradio's queue runs at most ``--concurrency``
classifications at once and holds at most ``--max-queue`` waiting ones (more: "queue is full,
try again"); every request is checked first by a validator that gradio runs when the request
arrives, outside the queue, so bad input (no labels, a bad template, a non-audio file, silence,
a clip over the length cap) is answered at once, never behind a long clip. Clips longer than
``--max-seconds`` are scored in windows of that length (averaged), up to ``WINDOW_CAP`` times
it; longer ones are refused. Files over ``--max-upload-mb`` are refused by gradio. Uploads are
deleted after their answer and the whole upload folder at shutdown. ``main(argv) -> int`` and ``build_app(...) -> gr.Blocks`` are the entry points
(``smoothclap app`` calls ``main``; tests call both).

No network: gradio's analytics and version check are off (``GRADIO_ANALYTICS_ENABLED=False``),
no share link, no server-side rendering; the page loads nothing but this server's own files.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

# the input checks live in a second file of this folder; a Space, `python space/app.py` and the
# installed package smoothclap.app all find it on the folder's path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoothclap_app_checks import (  # noqa: E402
    DEFAULT_MAX_QUEUE, DEFAULT_MAX_SECONDS, DEFAULT_MAX_UPLOAD_MB, DEFAULT_CONCURRENCY, DEFAULT_TEMPLATES,
    SILENCE_DBFS, SWEEP_SECONDS, WINDOW_CAP, AppError, Clip, Limits, UploadJanitor, check_clip, example_copies,
    parse_labels, parse_templates, peak_amplitude)

# before gradio is imported: no telemetry, no version check, no share-link machinery
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL_ENV = "SMOOTHCLAP_MODEL"  # the model folder or repo id on a Space (a Space variable)
EXAMPLES_ENV = "SMOOTHCLAP_EXAMPLES"  # an optional folder of example clips
DEFAULT_LABELS = "angry, happy, sad, neutral"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SCORE_DIGITS = 4  # the precision the page shows a score with
# gradio shows a refused input's message over the component, right-aligned and as wide as the
# text: pin it to both edges so that a long message wraps inside the box instead of being cut
PAGE_CSS = "[data-testid='status-tracker'] .validation-error { left: 0; text-align: left; }"
REMOTE_CODE_HINT = ("A SmoothCLAP model folder or repo holds config.json (with auto_map), the weights, the "
                    "processor files and the remote-code files configuration_smoothclap.py, "
                    "modeling_smoothclap.py, processing_smoothclap.py, audio_smoothclap.py and "
                    "pipeline_smoothclap.py, as save_pretrained writes them.")
__all__ = ["AppError", "Classifier", "Clip", "Limits", "SILENCE_DBFS", "UploadJanitor", "build_app", "check_clip",
           "find_examples", "main", "parse_labels", "parse_templates", "peak_amplitude"]


# --------------------------------------------------------------------------- model
def load_classifier(source: str):
    """The model's own zero-shot pipeline, or an AppError naming the source and the cause."""
    if not source:
        raise AppError(f"No model: pass --model DIR_OR_REPO, or set {MODEL_ENV} (on a Space: Settings -> "
                       "Variables).")
    import transformers
    from transformers import pipeline

    if os.path.isdir(source) and not os.path.isfile(os.path.join(source, "pipeline_smoothclap.py")):
        missing = [name for name in ("config.json", "configuration_smoothclap.py", "modeling_smoothclap.py",
                                     "pipeline_smoothclap.py") if not os.path.isfile(os.path.join(source, name))]
        raise AppError(f"{source} is not a SmoothCLAP model folder: it lacks {', '.join(missing)}. "
                       + REMOTE_CODE_HINT)
    transformers.logging.set_verbosity_error()  # load notices and bars stay out of the server's log
    transformers.logging.disable_progress_bar()
    try:
        return pipeline_with_auto_dtype(pipeline, source)
    except Exception as err:
        hint = "" if os.path.isdir(source) else (
            " If it is a Hub repo id: is the name right, and is the Hub reachable (HF_HUB_OFFLINE unset)?")
        raise AppError(f"Cannot load the model {source!r}: {type(err).__name__}: {err}.{hint} "
                       + REMOTE_CODE_HINT) from None


def pipeline_with_auto_dtype(pipeline, source: str):
    """The pipeline on its CPU fast path (``audio_dtype="auto"``: the model's own pipeline picks
    float32, bfloat16, int8 or ONNX Runtime for the CPU it finds), or float32 where the model's
    pipeline predates "auto" (it refuses the value before touching the model)."""
    try:
        pipe = pipeline("zero-shot-audio-classification", model=source, trust_remote_code=True, audio_dtype="auto")
        pipe.smoothclap_dtype_note = ""
    except (ValueError, TypeError) as err:
        if "auto" not in str(err) or "dtype" not in str(err).lower():
            raise
        pipe = pipeline("zero-shot-audio-classification", model=source, trust_remote_code=True)
        pipe.smoothclap_dtype_note = "this model's pipeline has no audio_dtype='auto' yet"
    return pipe


def describe_backend(pipe) -> str:
    """``float32 on cpu`` (plus the backend and the reason where the pipeline names them)."""
    dtype = getattr(pipe, "audio_dtype", None) or "float32"
    backend = getattr(pipe, "backend", None) or getattr(pipe, "audio_backend", None)
    text = f"{backend}, {dtype}" if backend and str(backend) != str(dtype) else str(dtype)
    device = getattr(pipe, "device", None)
    text += f" on {getattr(device, 'type', device)}" if device is not None else ""
    why = getattr(pipe, "audio_dtype_reason", None) or getattr(pipe, "smoothclap_dtype_note", "")
    return f"{text} ({why})" if why else text


def model_template(pipe) -> tuple[str, bool]:
    """The template box's default: the model's trained ``config.query_template`` (a string or a
    list: one per line) and True, or the app's default and False (older folders lack it)."""
    value = getattr(getattr(getattr(pipe, "model", None), "config", None), "query_template", None)
    if isinstance(value, str) and value.strip():
        return value.strip(), True
    if isinstance(value, (list, tuple)) and any(isinstance(t, str) and t.strip() for t in value):
        return "\n".join(t.strip() for t in value if isinstance(t, str) and t.strip()), True
    return DEFAULT_TEMPLATES, False


class Classifier:
    """The loaded pipeline of one model source, or the load error to show in the page."""

    def __init__(self, source: str | None, pipe=None):
        self.source = source or ""
        self.pipe, self.error, self.load_seconds = pipe, None, 0.0
        if pipe is None:
            started = time.perf_counter()
            try:
                self.pipe = load_classifier(self.source)
            except AppError as err:
                self.error = str(err)
            self.load_seconds = time.perf_counter() - started
        self.template, self.template_from_model = model_template(self.pipe)

    def status(self) -> str:
        if self.error:
            return f"**Model not loaded.** {self.error}"
        if self.template_from_model:
            where = "Template: the model's own (`query_template` in its config, the one it was trained with)."
        else:
            where = (f"Template: the app's default `{DEFAULT_TEMPLATES}` (this model's config names no "
                     "`query_template`: an older folder).")
        return (f"Model: `{self.source}` (loaded in {self.load_seconds:.1f} s; audio encoder: "
                f"{describe_backend(self.pipe)}). {where}")

    def template_note(self, templates: list[str]) -> str:
        """Which template a request used: the model's, the app's default, or the user's own."""
        if templates == parse_templates(self.template):
            return "the model's template" if self.template_from_model else "the app's default template"
        return "your template" + ("s" if len(templates) > 1 else "")

    def check(self, path, labels_text, templates_text, max_seconds: float = DEFAULT_MAX_SECONDS):
        """(labels, templates, Clip) of a request, or the AppError the page shows."""
        if self.pipe is None:
            raise AppError(self.error or "No model loaded.")
        return parse_labels(labels_text), parse_templates(templates_text), check_clip(path, max_seconds)

    def score(self, clip: Clip, labels: list[str], templates: list[str], multi_label=False) -> list[dict]:
        """Ranked ``[{"label", "score"}, ...]``; clips over the limit in windows of it, averaged."""
        windows = {} if clip.window is None else {"window": clip.window, "hop": clip.window}
        try:  # the pipeline reads the file itself: any rate, any channel count
            return self.pipe(clip.path, candidate_labels=labels,
                             hypothesis_template=templates if len(templates) > 1 else templates[0],
                             multi_label=bool(multi_label), **windows)
        except ValueError as err:  # the pipeline's own input checks (labels, templates, audio shape)
            raise AppError(str(err)) from None

    def classify(self, path, labels_text, templates_text, multi_label=False,
                 max_seconds: float = DEFAULT_MAX_SECONDS) -> list[dict]:
        """Ranked ``[{"label", "score"}, ...]`` for one file, or an AppError."""
        labels, templates, clip = self.check(path, labels_text, templates_text, max_seconds)
        return self.score(clip, labels, templates, multi_label)


def format_top(ranked: list[dict]) -> str:
    """``angry (0.6123)``: the top label and its score at the page's precision."""
    return f"{ranked[0]['label']} ({ranked[0]['score']:.{SCORE_DIGITS}f})"


# --------------------------------------------------------------------------- examples
def _audio_files(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def _demo_corpus_examples(model_source: str, out_dir: Path, template: str = DEFAULT_TEMPLATES) -> list[list]:
    """One held-out (test split) clip per emotion of the demo corpus that sits next to a model
    folder written by demo.py (``<out>/smoothclap`` and ``<out>/cache/demo``), as wav files."""
    import json

    parent = Path(model_source).resolve().parent
    for corpus in (parent / "cache" / "demo", parent / "cache" / "demo-quick"):
        shards = sorted((corpus / "test").glob("data-*.arrow"))
        meta_path = corpus / "smoothclap.json"
        if shards and meta_path.is_file():
            break
    else:
        return []
    import pyarrow as pa  # a local demo corpus exists only where the project (and datasets) is installed

    labels = json.loads(meta_path.read_text(encoding="utf-8")).get("labels") or []
    picked: dict[str, tuple[str, bytes]] = {}
    for shard in shards:
        with pa.memory_map(str(shard)) as source:
            table = pa.ipc.open_stream(source).read_all().select(["id", "emotion", "audio"])
        for row in table.to_pylist():
            if row["emotion"] in labels and row["emotion"] not in picked:
                picked[row["emotion"]] = (row["id"], row["audio"]["bytes"])
        if len(picked) == len(labels):
            break
    examples = []
    for emotion in labels:
        if emotion in picked:
            clip_id, data = picked[emotion]
            path = out_dir / f"test-{clip_id}.wav"
            path.write_bytes(data)
            examples.append([str(path), ", ".join(labels), template])
    return examples


def _generated_examples(out_dir: Path) -> list[list]:
    """Two generated voiced-like tones (low and steady, high and gliding), 16 kHz mono wav."""
    import numpy as np
    import soundfile

    rate, seconds = 16000, 2.0
    t = np.arange(int(rate * seconds)) / rate
    examples = []
    for name, f0 in (("low-steady", 110.0 + 0.0 * t), ("high-gliding", 260.0 + 60.0 * np.sin(2 * np.pi * 1.5 * t))):
        phase = 2 * np.pi * np.cumsum(f0) / rate
        wave = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(np.pi * t / seconds))
        path = out_dir / f"generated-{name}.wav"
        soundfile.write(str(path), (0.25 * wave).astype(np.float32), rate)
        examples.append([str(path), "low pitch, high pitch", "speaker has a {}."])
    examples.append([examples[1][0], DEFAULT_LABELS, "this person is feeling {}.\nthe speaker sounds {}."])
    return examples


def find_examples(model_source: str | None, examples_dir: str | None = None, out_dir: str | None = None,
                  template: str = DEFAULT_TEMPLATES) -> list[list]:
    """``[[audio_path, labels_text, templates_text], ...]`` for the page's examples: the first
    source that has any of ``examples_dir``, the model folder's ``examples/``, an ``examples/``
    folder next to this file, the demo corpus next to the model folder, generated tones.
    Never raises: a source that fails is skipped (the page works without examples)."""
    out = Path(out_dir or tempfile.mkdtemp(prefix="smoothclap-space-examples-"))
    out.mkdir(parents=True, exist_ok=True)
    folders = [examples_dir] if examples_dir else []
    if model_source and os.path.isdir(model_source):
        folders.append(os.path.join(model_source, "examples"))
    folders.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples"))
    for folder in folders:
        files = _audio_files(folder)
        if files:
            return [[str(p), DEFAULT_LABELS, template] for p in files]
    sources = [lambda: _demo_corpus_examples(model_source, out, template)] if model_source and os.path.isdir(model_source) else []
    sources.append(lambda: _generated_examples(out))
    for source in sources:
        try:
            examples = source()
        except Exception as err:  # an unreadable corpus must not stop the page
            print(f"warning: examples skipped ({type(err).__name__}: {err})", file=sys.stderr)
            continue
        if examples:
            return examples
    return []


# --------------------------------------------------------------------------- page
DESCRIPTION = """# SmoothCLAP: zero-shot paralinguistics
Upload or record a clip, type the labels (comma-separated) and one or more templates (one per
line, `{}` marks where the label goes; several lines are averaged as a prompt ensemble), then
press **Classify**. Scores are the model's own zero-shot pipeline: a softmax over the labels, or
with *independent scores* each label against "not label"."""


def build_app(model: str | None = None, *, classifier: Classifier | None = None, examples_dir: str | None = None,
              examples: list[list] | None = None, limits: Limits | None = None, work_dir: str | None = None):
    """The gradio Blocks page for one model (a folder or repo id, or an already built Classifier),
    with its queue (``limits``). ``work_dir``: where generated example clips go."""
    import gradio as gr
    from gradio.utils import get_upload_folder

    limits = limits or Limits()
    clf = classifier if classifier is not None else Classifier(model)
    if examples is None:
        out = os.path.join(work_dir, "examples") if work_dir else None
        examples = find_examples(clf.source, examples_dir, out, clf.template) if clf.pipe is not None else []
    janitor = UploadJanitor(get_upload_folder())

    def validate(path, labels_text, templates_text, multi_label):
        """Run by gradio when a request arrives, outside the queue: bad input is answered at once
        (next to the input it concerns), and never waits behind a long clip."""
        verdicts = []
        for check in (lambda: check_clip(path, limits.max_seconds), lambda: parse_labels(labels_text),
                      lambda: parse_templates(templates_text)):
            try:
                check()
                verdicts.append(gr.validate(True, ""))
            except AppError as err:
                verdicts.append(gr.validate(False, str(err)))
        if not verdicts[0]["is_valid"]:
            janitor.release(path)  # an unusable upload goes at once
        elif all(v["is_valid"] for v in verdicts):
            janitor.hold(path)  # kept until this request's answer (another request may share the file)
        # a request refused for its text keeps its clip: fix the labels and press again
        return [*verdicts, gr.validate(True, "")]

    def run(path, labels_text, templates_text, multi_label):
        started = time.perf_counter()
        try:
            labels, templates, clip = clf.check(path, labels_text, templates_text, limits.max_seconds)
            ranked = clf.score(clip, labels, templates, multi_label)
        except AppError as err:
            return None, "", f"**Error:** {err}"
        except Exception as err:  # anything unexpected still ends in the page, not as a traceback
            return None, "", f"**Error:** {type(err).__name__}: {err}"
        finally:
            janitor.release(path)
        scores = {item["label"]: item["score"] for item in ranked}
        kind = "independent scores" if multi_label else "softmax over the labels"
        windows = "" if clip.window is None else (
            f"; the clip is {clip.seconds:.1f} s long, over the {limits.max_seconds:g} s limit: scored in "
            f"{math.ceil(clip.seconds / clip.window)} windows of {clip.window:g} s, averaged")
        return (scores, format_top(ranked), f"Done in {time.perf_counter() - started:.2f} s ({kind}, with "
                f"{clf.template_note(templates)}{windows}).")

    with gr.Blocks(title="SmoothCLAP zero-shot paralinguistics", analytics_enabled=False,
                   delete_cache=(SWEEP_SECONDS, SWEEP_SECONDS)) as app:
        gr.Markdown(DESCRIPTION)
        gr.Markdown(clf.status(), elem_id="model-status")
        gr.Markdown(limits.describe(), elem_id="limits")
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Clip", elem_id="clip")
                labels = gr.Textbox(value=DEFAULT_LABELS, label="Labels (comma-separated)", elem_id="labels")
                source = "the model's own" if clf.template_from_model else "the app's default"
                templates = gr.Textbox(value=clf.template, lines=2, elem_id="templates",
                                       label=f"Templates (one per line, {{}} = label; preset: {source})")
                multi = gr.Checkbox(value=False, label="Independent scores (multi-label: each label vs 'not label')",
                                    elem_id="multi-label")
                button = gr.Button("Classify", variant="primary", elem_id="classify")
            with gr.Column():
                top = gr.Textbox(label="Top label (score)", interactive=False, elem_id="top")
                scores = gr.Label(label="Scores, ranked", elem_id="scores")
                status = gr.Markdown("", elem_id="status")
        # in the browser, first (registered before the run: a later one would wait for the run's
        # answer, then wipe it): the last answer goes, so that it is not read as this request's
        button.click(None, None, [scores, top, status], js="() => [{}, '', '']", queue=False)
        button.click(run, inputs=[audio, labels, templates, multi], outputs=[scores, top, status],
                     api_name="classify", validator=validate, concurrency_limit=limits.concurrency)
        if examples:
            gr.Examples(examples, inputs=[audio, labels, templates], label="Examples (click one, then Classify)")
    janitor.keep.update(Path(p).resolve() for p in example_copies(examples, str(janitor.folder)))
    app.queue(max_size=limits.max_queue, default_concurrency_limit=limits.concurrency)
    app.smoothclap_classifier = clf  # for tests and callers
    app.smoothclap_examples = examples
    app.smoothclap_janitor = janitor
    return app


# --------------------------------------------------------------------------- command line
def positive(kind):
    def parse(text):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="smoothclap app",
        description="Start the SmoothCLAP web demo (a gradio page) on this machine and print its URL.")
    parser.add_argument("--model", default=os.environ.get(MODEL_ENV),
                        help=f"SmoothCLAP model folder or Hub repo id (default: ${MODEL_ENV})")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860),
                        help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
                        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1; 0.0.0.0 for "
                             "other machines)")
    parser.add_argument("--examples", default=os.environ.get(EXAMPLES_ENV),
                        help=f"folder of example clips (default: ${EXAMPLES_ENV}; else the model's examples/, "
                             "the demo corpus next to a demo.py model, or generated tones)")
    parser.add_argument("--concurrency", type=positive(int), default=DEFAULT_CONCURRENCY,
                        help=f"classifications run at once (default {DEFAULT_CONCURRENCY})")
    parser.add_argument("--max-queue", type=positive(int), default=DEFAULT_MAX_QUEUE,
                        help=f"requests waiting at most; more are told the queue is full, try again "
                             f"(default {DEFAULT_MAX_QUEUE})")
    parser.add_argument("--max-seconds", type=positive(float), default=DEFAULT_MAX_SECONDS,
                        help=f"clips longer than this are scored in windows of it, up to {WINDOW_CAP}x it; longer "
                             f"ones are refused (default {DEFAULT_MAX_SECONDS:g})")
    parser.add_argument("--max-upload-mb", type=positive(float), default=DEFAULT_MAX_UPLOAD_MB,
                        help=f"larger files are refused on upload (default {DEFAULT_MAX_UPLOAD_MB:g})")
    return parser.parse_args(argv)


def private_upload_folder() -> str:
    """A folder of this server's own inside $GRADIO_TEMP_DIR (or the system temp folder), made
    gradio's upload folder; removed at shutdown with every upload and generated example in it."""
    parent = os.environ.get("GRADIO_TEMP_DIR") or None
    if parent:
        os.makedirs(parent, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="smoothclap-app-", dir=parent)
    os.environ["GRADIO_TEMP_DIR"] = folder  # read by gradio when the page and the server are built
    return folder


def main(argv=None) -> int:
    """Start the page; returns 0 when it is stopped (Ctrl-C, SIGTERM), 1 when it cannot start, 2 on usage errors."""
    args = parse_args(argv)
    if not args.model and not os.environ.get("SPACE_ID"):  # on a Space the page itself says what is missing
        print(f"error: no model: pass --model DIR_OR_REPO or set {MODEL_ENV}", file=sys.stderr)
        return 2
    limits = Limits(args.concurrency, args.max_queue, args.max_seconds, args.max_upload_mb)
    print(f"Loading {args.model or '(no model)'} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    previous_temp = os.environ.get("GRADIO_TEMP_DIR")
    work_dir = private_upload_folder()
    previous_sigterm = None
    if threading.current_thread() is threading.main_thread():  # SIGTERM ends like Ctrl-C: uploads removed
        previous_sigterm = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    app = None
    try:
        app = build_app(args.model, examples_dir=args.examples, limits=limits, work_dir=work_dir)
        clf = app.smoothclap_classifier
        if clf.error:
            print(f"error: {clf.error}\n(the page starts anyway and shows this)", file=sys.stderr, flush=True)
        allowed = sorted({os.path.dirname(os.path.abspath(example[0])) for example in app.smoothclap_examples})
        try:
            _, url, _ = app.launch(server_name=args.host, server_port=args.port, share=False,
                                   prevent_thread_lock=True, quiet=True, ssr_mode=False, mcp_server=False, pwa=False,
                                   allowed_paths=allowed, css=PAGE_CSS,
                                   max_file_size=int(limits.max_upload_mb * 1024 * 1024))
        except OSError as err:
            print(f"error: cannot start the server on {args.host}:{args.port}: {err}", file=sys.stderr)
            return 1
        print(f"SmoothCLAP app running at {url} (model: {args.model}; ready in {time.perf_counter() - started:.1f} s; "
              f"{limits.describe()} Ctrl-C stops it)", flush=True)
        app.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        if app is not None:
            app.close()
        shutil.rmtree(work_dir, ignore_errors=True)
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        if previous_temp is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = previous_temp
    return 0


if __name__ == "__main__":
    sys.exit(main())
