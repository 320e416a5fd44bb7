"""SmoothCLAP web demo: zero-shot paralinguistic classification of one clip, in the shape of a
Hugging Face Space (gradio).

    python space/app.py --model DIR_OR_REPO [--port 7860] [--host 127.0.0.1] [--examples DIR]

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
model repo. ``main(argv) -> int`` and ``build_app(...) -> gr.Blocks`` are the entry points
(``smoothclap app`` calls ``main``; tests call both).

No network: gradio's analytics and version check are off (``GRADIO_ANALYTICS_ENABLED=False``),
no share link, no server-side rendering; the page loads nothing but this server's own files.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# before gradio is imported: no telemetry, no version check, no share-link machinery
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL_ENV = "SMOOTHCLAP_MODEL"  # the model folder or repo id on a Space (a Space variable)
EXAMPLES_ENV = "SMOOTHCLAP_EXAMPLES"  # an optional folder of example clips
DEFAULT_LABELS = "angry, happy, sad, neutral"
DEFAULT_TEMPLATES = "this person is feeling {}."
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SCORE_DIGITS = 4  # the precision the page shows a score with
REMOTE_CODE_HINT = ("A SmoothCLAP model folder or repo holds config.json (with auto_map), the weights, the "
                    "processor files and the remote-code files configuration_smoothclap.py, "
                    "modeling_smoothclap.py, processing_smoothclap.py, audio_smoothclap.py and "
                    "pipeline_smoothclap.py, as save_pretrained writes them.")


class AppError(Exception):
    """An error the page shows as it is (the user's input or the model source is wrong)."""


# --------------------------------------------------------------------------- inputs
def parse_labels(text: str | None) -> list[str]:
    """Labels typed as ``angry, happy, sad`` (commas or new lines), blanks dropped."""
    parts = (text or "").replace("\n", ",").split(",")
    labels = [part.strip() for part in parts if part.strip()]
    if not labels:
        raise AppError("No labels: type at least one label, e.g. 'angry, happy, sad, neutral'.")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise AppError(f"Duplicate label(s) {', '.join(duplicates)}: type each label once.")
    return labels


def parse_templates(text: str | None) -> list[str]:
    """Templates, one per line, each with ``{}`` once (several lines: a prompt ensemble)."""
    templates = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not templates:
        raise AppError("No template: type one per line, with {} where the label goes, e.g. "
                       f"'{DEFAULT_TEMPLATES}'.")
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise AppError(f"Template {bad[0]!r} must contain {{}} exactly once, where the label goes "
                       f"(e.g. '{DEFAULT_TEMPLATES}').")
    return templates


def check_clip(path) -> str:
    """The path of a readable, non-empty audio file, or an AppError saying what is wrong."""
    import soundfile

    if not path:
        raise AppError("No audio: upload a clip or record one, then press Classify.")
    name = Path(str(path)).name
    try:
        frames = soundfile.info(str(path)).frames
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise AppError(f"Cannot read the audio file {name!r} ({err}). Upload WAV, FLAC, OGG or MP3.") from None
    if frames == 0:
        raise AppError(f"The audio file {name!r} holds no samples.")
    return str(path)


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
        return pipeline("zero-shot-audio-classification", model=source, trust_remote_code=True)
    except Exception as err:
        hint = "" if os.path.isdir(source) else (
            " If it is a Hub repo id: is the name right, and is the Hub reachable (HF_HUB_OFFLINE unset)?")
        raise AppError(f"Cannot load the model {source!r}: {type(err).__name__}: {err}.{hint} "
                       + REMOTE_CODE_HINT) from None


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

    def status(self) -> str:
        if self.error:
            return f"**Model not loaded.** {self.error}"
        return f"Model: `{self.source}` (loaded in {self.load_seconds:.1f} s)."

    def classify(self, path, labels_text, templates_text, multi_label=False) -> list[dict]:
        """Ranked ``[{"label", "score"}, ...]`` for one file, or an AppError."""
        if self.pipe is None:
            raise AppError(self.error or "No model loaded.")
        labels = parse_labels(labels_text)
        templates = parse_templates(templates_text)
        path = check_clip(path)
        try:  # the pipeline reads the file itself: any rate, any channel count
            return self.pipe(path, candidate_labels=labels,
                             hypothesis_template=templates if len(templates) > 1 else templates[0],
                             multi_label=bool(multi_label))
        except ValueError as err:  # the pipeline's own input checks (labels, templates, audio shape)
            raise AppError(str(err)) from None


def format_top(ranked: list[dict]) -> str:
    """``angry (0.6123)``: the top label and its score at the page's precision."""
    return f"{ranked[0]['label']} ({ranked[0]['score']:.{SCORE_DIGITS}f})"


# --------------------------------------------------------------------------- examples
def _audio_files(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def _demo_corpus_examples(model_source: str, out_dir: Path) -> list[list]:
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
            examples.append([str(path), ", ".join(labels), DEFAULT_TEMPLATES])
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


def find_examples(model_source: str | None, examples_dir: str | None = None, out_dir: str | None = None) -> list[list]:
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
            return [[str(p), DEFAULT_LABELS, DEFAULT_TEMPLATES] for p in files]
    sources = [lambda: _demo_corpus_examples(model_source, out)] if model_source and os.path.isdir(model_source) else []
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
              examples: list[list] | None = None):
    """The gradio Blocks page for one model (a folder or repo id, or an already built Classifier)."""
    import gradio as gr

    clf = classifier if classifier is not None else Classifier(model)
    if examples is None:
        examples = find_examples(clf.source, examples_dir) if clf.pipe is not None else []

    def run(path, labels_text, templates_text, multi_label):
        started = time.perf_counter()
        try:
            ranked = clf.classify(path, labels_text, templates_text, multi_label)
        except AppError as err:
            return None, "", f"**Error:** {err}"
        except Exception as err:  # anything unexpected still ends in the page, not as a traceback
            return None, "", f"**Error:** {type(err).__name__}: {err}"
        scores = {item["label"]: item["score"] for item in ranked}
        kind = "independent scores" if multi_label else "softmax over the labels"
        return scores, format_top(ranked), f"Done in {time.perf_counter() - started:.2f} s ({kind})."

    with gr.Blocks(title="SmoothCLAP zero-shot paralinguistics", analytics_enabled=False) as app:
        gr.Markdown(DESCRIPTION)
        gr.Markdown(clf.status(), elem_id="model-status")
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Clip", elem_id="clip")
                labels = gr.Textbox(value=DEFAULT_LABELS, label="Labels (comma-separated)", elem_id="labels")
                templates = gr.Textbox(value=DEFAULT_TEMPLATES, lines=2, label="Templates (one per line, {} = label)",
                                       elem_id="templates")
                multi = gr.Checkbox(value=False, label="Independent scores (multi-label: each label vs 'not label')",
                                    elem_id="multi-label")
                button = gr.Button("Classify", variant="primary", elem_id="classify")
            with gr.Column():
                top = gr.Textbox(label="Top label (score)", interactive=False, elem_id="top")
                scores = gr.Label(label="Scores, ranked", elem_id="scores")
                status = gr.Markdown("", elem_id="status")
        button.click(run, inputs=[audio, labels, templates, multi], outputs=[scores, top, status],
                     api_name="classify")
        if examples:
            gr.Examples(examples, inputs=[audio, labels, templates], label="Examples (click one, then Classify)")
    app.smoothclap_classifier = clf  # for tests and callers
    app.smoothclap_examples = examples
    return app


# --------------------------------------------------------------------------- command line
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
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Start the page; returns 0 when it is stopped (Ctrl-C), 1 when it cannot start, 2 on usage errors."""
    args = parse_args(argv)
    if not args.model and not os.environ.get("SPACE_ID"):  # on a Space the page itself says what is missing
        print(f"error: no model: pass --model DIR_OR_REPO or set {MODEL_ENV}", file=sys.stderr)
        return 2
    print(f"Loading {args.model or '(no model)'} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    app = build_app(args.model, examples_dir=args.examples)
    clf = app.smoothclap_classifier
    if clf.error:
        print(f"error: {clf.error}\n(the page starts anyway and shows this)", file=sys.stderr, flush=True)
    allowed = sorted({os.path.dirname(os.path.abspath(example[0])) for example in app.smoothclap_examples})
    try:
        _, url, _ = app.launch(server_name=args.host, server_port=args.port, share=False, prevent_thread_lock=True,
                               quiet=True, ssr_mode=False, mcp_server=False, pwa=False, allowed_paths=allowed)
    except OSError as err:
        print(f"error: cannot start the server on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    print(f"SmoothCLAP app running at {url} (model: {args.model}; ready in {time.perf_counter() - started:.1f} s; "
          "Ctrl-C stops it)", flush=True)
    try:
        app.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
