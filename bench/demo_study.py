"""The paper's ablation on the demo corpus, on the VALIDATION split only (never test):
audio-side smoothing only (gamma = 0), text-side only (gamma = 1), both (gamma = 0.5), and
beta / gamma on a small grid, each against the ParaCLAP baseline (beta = 0) of the same
seed, encoder, crops, captions and batch order (paired bootstrap over voices and clips).

    python bench/demo_study.py --output smoothclap-demo [--seed 0] [--grid 0.05:0.5,0.3:0.5]
    python bench/demo_study.py --output smoothclap-demo --prompts   # a prompt ensemble, validation only
    python bench/demo_study.py --output smoothclap-demo --encoders 1:5,1:10:1.25:2:0:3:fine   # encoder recipes (weight:epochs[:gain:semitones[:egemaps[:pitch[:front end[:loudness]]]]]), validation probe
    python bench/demo_study.py --output smoothclap-demo --egemaps            # what eGeMAPS carries, validation
    python bench/demo_study.py --output smoothclap-demo --clap "text lr 3e-5=--text-lr 3e-5;4 epochs=--epochs 4"   # CLAP-side levers, validation

Run it after `python demo.py --output smoothclap-demo` (same output): it reuses that run's
corpus, frozen encoder, feature cache and its seed's evaluation of ParaCLAP and SmoothCLAP
(beta 0.1, gamma 0.5; CACHE/seed-results/seed<N>.json, waited for when that run is still
going), and trains only the other variants (OUTPUT/ablation/<variant>).
Writes OUTPUT/ablation.md (the table) and OUTPUT/ablation.json (-sides / -grid with
--variants), and prints the table. Trained variants are reused by a later call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import smoothclap.demo as demo  # noqa: E402
from smoothclap.evaluation.compare import paired_bootstrap  # noqa: E402

VARIANTS = [  # (name, beta, gamma): the paper's three smoothing sides at the default beta
    ("audio-side only", 0.1, 0.0),
    ("text-side only", 0.1, 1.0),
    ("both (the demo's SmoothCLAP)", 0.1, 0.5),
]


# a prompt ensemble (label embeddings averaged over the templates); no training caption uses
# these wordings (checked with demo.unseen_query_check before use)
PROMPTS = ["this person is feeling {}.", "the voice sounds {}.", "someone talking in a {} way.",
           "a {} tone of voice."]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="smoothclap-demo", help="a demo run's output folder (reused)")
    parser.add_argument("--seed", type=int, default=0, help="the demo seed whose encoder and baseline are used")
    parser.add_argument("--grid", default="0.05:0.5,0.3:0.5,0.1:0.25,0.1:0.75",
                        help="more beta:gamma pairs, comma-separated (default: %(default)s)")
    parser.add_argument("--variants", choices=("all", "sides", "grid"), default="all",
                        help="the three smoothing sides, the --grid pairs, or both (two processes can share the work)")
    parser.add_argument("--encoders", default=None, metavar="W:E[:G:S[:X[:P[:F[:L]]]]],...",
                        help="instead: fit the demo encoder with label weight W for E epochs, each clip heard with "
                             "gain up to x/÷G and pitch up to +-S semitones (default 1:0, none), eGeMAPS weight X and "
                             "frame-pitch weight P (default 0), front end F (filterbank or fine), frame-loudness "
                             "weight L (default 0), and print the "
                             "VALIDATION linear-probe UAR of each, clip-level and per voice (how the recipe was chosen)")
    parser.add_argument("--egemaps", action="store_true",
                        help="instead: VALIDATION UAR of classifiers on the corpus' 88 eGeMAPS functionals (a linear "
                             "probe; gradient boosting too if scikit-learn is installed): what clip-level acoustics carry")
    parser.add_argument("--prompts", action="store_true",
                        help="instead: both models' validation UAR with the demo's one query per label and with "
                             "the prompt ensemble PROMPTS (a lever chosen on validation, never on test)")
    parser.add_argument("--clap", default=None, metavar="NAME=FLAGS;...",
                        help="instead: train SmoothCLAP on the seed's encoder with more trainer flags per variant "
                             "(NAME=FLAGS, ';'-separated) and print each one's VALIDATION UAR (per voice) and its "
                             "validation UAR after each epoch, beside the demo's own SmoothCLAP of the seed")
    args = parser.parse_args(argv)
    try:
        args.grid = [tuple(float(x) for x in pair.split(":")) for pair in args.grid.split(",") if pair]
    except ValueError:
        parser.error(f"--grid must look like 0.05:0.5,0.3:0.5, got {args.grid!r}")
    return args


def side_name(beta: float, gamma: float) -> str:
    return {0.0: "audio-side only", 1.0: "text-side only"}.get(gamma, "both") + f" (beta {beta}, gamma {gamma})"


def model_folder(output: str, seed: int, name: str) -> str:
    """Where demo.py left this seed's model (the first seed in OUTPUT, the others in seed<N>/)."""
    other = os.path.join(output, f"seed{seed}", name)
    return other if os.path.isfile(os.path.join(other, "config.json")) else os.path.join(output, name)


def validation_predictions(folder: str, corpus_dir: str) -> tuple[dict, list]:
    report = demo.zero_shot_reports(folder, corpus_dir, splits=("validation",))["validation"]
    return report, report["_rows"]


def prompt_study(args) -> int:
    """Validation UAR of the seed's two models: the corpus' one query per label vs PROMPTS."""
    from smoothclap.models.modeling_smoothclap import SmoothClapModel
    from smoothclap.models.processing_smoothclap import SmoothClapProcessor
    from smoothclap.evaluation.data import load_eval_set
    from smoothclap.evaluation.predict import evaluate_model

    demo_args = demo.parse_args(["--output", args.output, "--seed", str(args.seed)])
    corpus_dir = demo.demo_corpus(demo.FULL, demo_args.cache_dir)
    labels = demo.read_metadata(corpus_dir)["labels"]
    demo.unseen_query_check(corpus_dir, [t.format(label) for t in PROMPTS for label in labels])
    lines = [f"Prompt ensemble on the VALIDATION split (seed {args.seed}): " + " | ".join(PROMPTS), "",
             "| model | one query per label | prompt ensemble |", "|---|---|---|"]
    result = {}
    for name in demo.MODELS:
        folder = model_folder(args.output, args.seed, name)
        model = SmoothClapModel.from_pretrained(folder).eval()
        processor = SmoothClapProcessor.from_pretrained(folder)
        single = evaluate_model(model, processor, load_eval_set(corpus_dir, split="validation"), batch_size=16)
        words = load_eval_set(corpus_dir, split="validation", texts={label: label for label in labels})
        ensemble = evaluate_model(model, processor, words, templates=PROMPTS, batch_size=16)
        result[name] = {"single": single["uar"], "ensemble": ensemble["uar"]}
        lines.append(f"| {name} | {single['uar']:.3f} | {ensemble['uar']:.3f} |")
    save_table(lines, os.path.join(args.output, f"prompts-seed{args.seed}.md"))
    return 0


def save_table(lines, path) -> None:
    """Print a study's markdown table and write it to ``path``."""
    table = "\n".join(lines)
    print("\n" + table)
    with open(path, "w") as f:
        f.write(table + "\n")


def encoder_study(args) -> int:
    """VALIDATION probe UAR of the demo encoder fitted with other recipes (label weight, epochs),
    same seed and corpus: the encoder's targets and length are chosen here, never on test."""
    import dataclasses

    import datasets

    demo_args = demo.parse_args(["--output", args.output, "--seed", str(args.seed)])
    corpus_dir = demo.demo_corpus(demo.FULL, demo_args.cache_dir)
    train = datasets.load_from_disk(corpus_dir)["train"]
    lines = [f"Encoder recipes, linear probe on the VALIDATION split (seed {args.seed}, train split fit; per voice: "
             "the pooled states standardised per voice first)", "",
             "| label weight | epochs | voice gain | voice semitones | eGeMAPS weight | pitch weight | front end "
             "| loudness weight | probe validation UAR | per voice | fit s |", "|" + "---|" * 11]
    for spec in args.encoders.split(","):
        # weight:epochs[:gain:semitones[:egemaps[:pitch[:front end[:loudness]]]]]
        weight, epochs, *rest = spec.split(":")
        gain, semitones = (float(rest[0]), float(rest[1])) if rest else (1.0, 0.0)
        egemaps, pitch = (float(rest[i]) if len(rest) > i else 0.0 for i in (2, 3))
        front_end = rest[4] if len(rest) > 4 else "filterbank"
        loudness = float(rest[5]) if len(rest) > 5 else 0.0
        recipe = dataclasses.replace(demo.FULL, encoder_label_weight=float(weight), encoder_epochs=int(epochs),
                                     encoder_voice_gain=gain, encoder_voice_semitones=semitones,
                                     encoder_egemaps_weight=egemaps, encoder_pitch_weight=pitch,
                                     encoder_front_end=front_end, encoder_loudness_weight=loudness)
        started = time.time()
        model, extractor, _ = demo.fit_audio_encoder(train, recipe, args.seed)
        fit = time.time() - started
        probe = demo.probe_ceiling("", corpus_dir, splits=("validation",), model=model, extractor=extractor,
                                   per_speaker=True)
        lines.append(f"| {weight} | {epochs} | {gain:g} | {semitones:g} | {egemaps:g} | {pitch:g} | {front_end} | "
                     f"{loudness:g} | "
                     f"{probe['validation']:.3f} | "
                     f"{probe['per_voice']['validation']:.3f} | {fit:.0f} |")
        print(lines[-1], flush=True)
    save_table(lines, os.path.join(args.output, f"encoders-seed{args.seed}.md"))
    return 0


def epoch_curve(folder: str) -> str:
    """The validation UAR after each epoch of a trained model (its training_results.json)."""
    history = (demo.read_json(os.path.join(folder, "training_results.json")) or {}).get("history") or []
    return " / ".join(f"{h['validation_uar']:.3f}" for h in history if "validation_uar" in h)


def clap_study(args) -> int:
    """VALIDATION UAR of SmoothCLAP trained with other trainer flags (learning rates, epochs, the
    caption draw) on the seed's frozen encoder, corpus and feature cache: the CLAP side's levers,
    chosen here, never on test. Trained variants (OUTPUT/clap/) are reused by a later call."""
    import re

    demo_args = demo.parse_args(["--output", args.output, "--seed", str(args.seed)])
    corpus_dir = demo.demo_corpus(demo.FULL, demo_args.cache_dir)
    encoder_dir = demo.audio_encoder(corpus_dir, demo.FULL, args.seed, demo_args.cache_dir)
    own = model_folder(args.output, args.seed, "smoothclap")
    lines = [f"CLAP-side variants of SmoothCLAP, VALIDATION split (seed {args.seed}; per voice; the best validation "
             "epoch exported, as in the demo)", "", "| variant | more trainer flags | validation UAR | after each epoch |",
             "|---|---|---|---|",
             f"| the demo's SmoothCLAP | | {validation_predictions(own, corpus_dir)[0]['uar']:.3f} | {epoch_curve(own)} |"]
    print(lines[-1], flush=True)
    for spec in filter(None, (part.strip() for part in args.clap.split(";"))):
        name, _, flags = spec.partition("=")
        folder = os.path.join(args.output, "clap", re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
                              + f"-seed{args.seed}")
        if not os.path.isfile(os.path.join(folder, "config.json")):
            demo.train_clap("smoothclap", corpus_dir, encoder_dir, demo.FULL, demo_args, args.seed, folder,
                            extra=tuple(flags.split()))
        report = validation_predictions(folder, corpus_dir)[0]
        lines.append(f"| {name} | `{flags}` | {report['uar']:.3f} | {epoch_curve(folder)} |")
        print(lines[-1], flush=True)
    save_table(lines, os.path.join(args.output, f"clap-seed{args.seed}.md"))
    return 0


def egemaps_study(args) -> int:
    """What the corpus' clip-level acoustics (eGeMAPS) carry of the label on VALIDATION: a bound
    on any clip-level encoder's UAR, independent of the demo's; and the same with every voice's
    features standardised on its own clips (speaker normalisation: what a model could reach
    that sees a voice's other clips)."""
    import datasets
    import numpy as np

    from smoothclap.evaluation.study import per_speaker_standardized, probe_uar

    demo_args = demo.parse_args(["--output", args.output, "--seed", str(args.seed)])
    corpus = datasets.load_from_disk(demo.demo_corpus(demo.FULL, demo_args.cache_dir))
    splits = ("train", "validation")
    y = {s: np.asarray(corpus[s]["label"]) for s in splits}
    raw = {s: np.asarray(corpus[s]["egemaps"], dtype=np.float64) for s in splits}
    for name, x in (("clip", raw), ("per voice", {s: per_speaker_standardized(raw[s], corpus[s]["speaker"])
                                                   for s in splits})):
        print(f"eGeMAPS ({name}), linear probe: validation UAR "
              f"{probe_uar(x['train'], y['train'], x['validation'], y['validation'], 4):.3f}", flush=True)
        try:
            from sklearn.ensemble import HistGradientBoostingClassifier
            from sklearn.metrics import balanced_accuracy_score
        except ImportError:
            continue
        boosted = HistGradientBoostingClassifier(max_iter=200, class_weight="balanced", random_state=args.seed)
        predicted = boosted.fit(x["train"], y["train"]).predict(x["validation"])
        print(f"eGeMAPS ({name}), gradient boosting (200 trees): validation UAR "
              f"{balanced_accuracy_score(y['validation'], predicted):.3f}", flush=True)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.egemaps:
        return egemaps_study(args)
    if args.prompts:
        return prompt_study(args)
    if args.encoders:
        return encoder_study(args)
    if args.clap:
        return clap_study(args)
    started = time.time()
    demo_args = demo.parse_args(["--output", args.output, "--seed", str(args.seed)])
    corpus_dir = demo.demo_corpus(demo.FULL, demo_args.cache_dir)
    encoder_dir = demo.audio_encoder(corpus_dir, demo.FULL, args.seed, demo_args.cache_dir)
    variants = (VARIANTS if args.variants != "grid" else []) + (
        [(side_name(b, g), b, g) for b, g in args.grid] if args.variants != "sides" else [])
    folders = {}
    for name, beta, gamma in variants:  # train first: the demo run may still be making its two models
        if (beta, gamma) == (0.1, 0.5):
            continue
        folder = folders[name] = os.path.join(args.output, "ablation", f"beta{beta}-gamma{gamma}-seed{args.seed}")
        if not os.path.isfile(os.path.join(folder, "config.json")):
            demo.train_clap("smoothclap", corpus_dir, encoder_dir, demo.FULL, demo_args, args.seed, folder,
                            extra=("--beta", str(beta), "--gamma", str(gamma)))
    import datasets

    speaker = dict(zip(*(datasets.load_from_disk(corpus_dir)["validation"][c] for c in ("id", "speaker"))))
    saved = demo.read_json(os.path.join(demo_args.cache_dir, "seed-results", f"seed{args.seed}.json")) or {}
    while "reports" not in saved:  # the demo run's own evaluation of its two models (same settings)
        print("   waiting for the demo run of this seed to save its results ...", flush=True)
        time.sleep(30)
        saved = demo.read_json(os.path.join(demo_args.cache_dir, "seed-results", f"seed{args.seed}.json")) or {}
    base_report = saved["reports"]["paraclap"]["validation"]
    base_rows = base_report["_rows"]
    rows = [{"variant": "ParaCLAP (no smoothing)", "beta": 0.0, "gamma": None, "validation_uar": base_report["uar"],
             "difference": None}]
    for name, beta, gamma in variants:
        if name in folders:
            report, preds = validation_predictions(folders[name], corpus_dir)
        else:
            report = saved["reports"]["smoothclap"]["validation"]
            preds = report["_rows"]
        diff = paired_bootstrap([r["label"] for r in base_rows], [r["prediction"] for r in preds],
                                [r["prediction"] for r in base_rows], [speaker[r["id"]] for r in base_rows],
                                labels=base_report["labels"])
        rows.append({"variant": name, "beta": beta, "gamma": gamma, "validation_uar": report["uar"],
                     "difference": diff})
        print(f"   {name}: validation UAR {report['uar']:.3f}, {diff['difference']:+.3f} "
              f"[{diff['ci'][0]:+.3f}, {diff['ci'][1]:+.3f}] vs ParaCLAP ({time.time() - started:.0f} s)", flush=True)
    lines = [f"Ablation on the VALIDATION split (seed {args.seed}; difference = variant - ParaCLAP, paired bootstrap "
             "over voices and clips, 95 %)", "", "| variant | beta | gamma | validation UAR | difference [95 %] |",
             "|---|---|---|---|---|"]
    for row in rows:
        diff = row["difference"]
        cell = "" if diff is None else f"{diff['difference']:+.3f} [{diff['ci'][0]:+.3f}, {diff['ci'][1]:+.3f}]"
        lines.append(f"| {row['variant']} | {row['beta']} | {'' if row['gamma'] is None else row['gamma']} | "
                     f"{row['validation_uar']:.3f} | {cell} |")
    suffix = "" if args.variants == "all" else f"-{args.variants}"
    if args.variants == "grid":  # one file per grid, so that two processes can split a grid
        suffix += "-" + "_".join(f"{b}-{g}" for b, g in args.grid)
    save_table(lines, os.path.join(args.output, f"ablation{suffix}.md"))
    with open(os.path.join(args.output, f"ablation{suffix}.json"), "w") as f:
        json.dump({"seed": args.seed, "rows": rows, "seconds": round(time.time() - started, 1)}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
