"""Zero-shot benchmark runner for SmoothCLAP: the paper's Table 1 (UAR) on the corpora you have.

    python evaluate_zeroshot.py --model PATH_OR_REPO --dataset DIR [--dataset DIR ...] --output-dir OUT
    accelerate launch evaluate_zeroshot.py ...        # shards the clips over processes

``--dataset`` takes a folder built by ``python -m smoothclap.data build`` (its
``smoothclap.json`` gives the labels and the paper's query texts) or a folder-per-label
corpus (``DIR/<label>/*.wav``). Writes ``OUT/results.json`` (per dataset, keyed
``corpus/config``: uar, wa, macro_f1, n_scored, n_total, uar_ci95, ...), ``OUT/results.md``
(the table, also printed) and ``OUT/confusion_<corpus>_<config>.png`` (row-normalised, as
the paper's Fig. 2). ``--paper`` adds the paper's numbers; ``--update-model-card CARD``
writes the results into the card's ``model-index`` metadata and its results section.


The evaluation itself is the package ``smoothclap.evaluation`` (metrics, predict, data, outputs),
shared with the trainer's validation UAR and the demo; this file is its command line.
``main(argv)`` returns the results (a dict, for Python callers); ``cli(argv)`` is the
console script's entry point and returns the exit status: 0 done, 1 a run that failed,
2 bad input (one ``error:`` line).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from smoothclap.models.pipeline_smoothclap import CPU_FAST_PATH_DTYPES, check_templates
from smoothclap.evaluation import PAPER_SPLITS, PAPER_TABLE1, SYNTHETIC_CORPORA, EvaluationError  # noqa: F401
from smoothclap.evaluation.data import EvalSet, load_eval_set, parse_text_map, read_meta  # noqa: F401
from smoothclap.evaluation.metrics import uar, zero_shot_report  # noqa: F401  (the names scripts import from here)
from smoothclap.evaluation.outputs import (RESULTS_END, RESULTS_START, markdown_table, plot_confusion,  # noqa: F401
                                     update_model_card)
from smoothclap.evaluation.predict import (ZeroShotPredictions, check_model_source, evaluate_model,  # noqa: F401
                                     label_embeddings, load_model, zero_shot_predict)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """``prog``: how the usage line names the command (default: how it was started)."""
    from smoothclap.console import invocation

    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.epilog = ("Example, on the offline demo's model and corpus (after `smoothclap demo`):\n"
                f"  {invocation(p.prog)} --model smoothclap-demo/smoothclap --dataset smoothclap-demo/cache/demo "
                "--output-dir eval --paper")
    p.add_argument("--model", required=True, action="append",
                   help="SmoothCLAP folder (save_pretrained) or Hub repo id; repeat to compare models (one table "
                        "with each pair's paired bootstrap interval)")
    p.add_argument("--dataset", required=True, action="append",
                   help="folder built by smoothclap.data, or a folder-per-label corpus; repeat for several")
    p.add_argument("--output-dir", required=True, help="where results.json, results.md and the PNGs go")
    p.add_argument("--split", default="auto",
                   help="'auto' (the paper's rows: test for FAU-Aibo and ALC, all rows for the other Table 1 "
                        "corpora unless built with a test split, else test if present, else all), 'all', or names such as 'test' or 'session1,session2'")
    p.add_argument("--texts", action="append", default=[], metavar="DATASET=JSON",
                   help="replace a dataset's query texts: DATASET is corpus/config, the corpus or the folder name; "
                        "JSON is {\"label\": \"text\", ...} inline or a .json file")
    p.add_argument("--template", action="append", default=None,
                   help="prompt template with {} for the query text; repeat for an ensemble (default: '{}' where "
                        "the dataset has query sentences; the model's own query_template where its texts are bare "
                        "labels)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="clips per forward (default 1 on CPU: batching wav2vec2 was slower per clip on 2 CPU "
                        "threads, see bench/zeroshot_speed.py; 16 on GPU)")
    p.add_argument("--window", type=float, default=None, help="split clips longer than this many seconds into windows")
    p.add_argument("--hop", type=float, default=None, help="window hop in seconds (default: the window)")
    p.add_argument("--dtype", default="float32", choices=CPU_FAST_PATH_DTYPES,
                   help="audio encoder on CPU: float32 (exact, default), int8 (dynamic int8 quantisation, 1.4-1.6x "
                        "faster), bfloat16 (only fast on CPUs with avx512_bf16/amx_bf16) or auto (bf16 with native "
                        "bf16, else ONNX Runtime int8 when the folder has an onnx/ export, else float32; "
                        "logged); README, 'CPU fast path'")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx", "onnxruntime"),
                   help="audio encoder runtime: torch, onnx (ONNX Runtime on the folder's `smoothclap export-onnx` "
                        "graph: int8 for --dtype int8/auto, float32 for float32) or auto (default: torch unless "
                        "--dtype auto picks ONNX Runtime)")
    p.add_argument("--speaker-norm", default="auto", choices=("auto", "off"),
                   help="auto (default): a model trained with --speaker-norm COLUMN has each speaker's clips "
                        "standardised on that speaker's own (needs COLUMN in the dataset, else clip by clip, "
                        "said in the results); off: clip by clip, as a single clip in the pipeline")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for uar_ci95 (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--paper", action="store_true", help="print the paper's Table 1 numbers beside the measured ones")
    p.add_argument("--update-model-card", metavar="CARD", help="write the results into this model card")
    p.add_argument("--model-name", default=None, help="how the card names the model (default: --model)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--strict", action="store_true",
                   help="refuse (exit 2) to score a split whose clips or speakers the model was trained or selected "
                        "on (its training_data.json); without it such results are marked and warned about")
    return p


def _validate(args) -> dict:
    """Everything that can be checked before loading a model; returns --texts by key."""
    if args.template is not None:
        check_templates(args.template)
    if args.window is not None and args.window <= 0:
        raise EvaluationError(f"--window must be > 0 seconds, got {args.window}.")
    if args.hop is not None and (args.window is None or not 0 < args.hop <= args.window):
        raise EvaluationError("--hop needs --window and 0 < hop <= window (a longer hop would skip audio).")
    if args.batch_size is not None and args.batch_size < 1:
        raise EvaluationError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if args.bootstrap < 1:
        raise EvaluationError(f"--bootstrap must be >= 1, got {args.bootstrap}.")
    _check_outputs(args)
    texts = {}
    for item in args.texts:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise EvaluationError(f"--texts {item!r}: expected DATASET=JSON, e.g. demo='{{\"sad\": \"a sad voice\"}}'.")
        texts[name.strip()] = parse_text_map(value)
    return texts


def _texts_for(path: str, meta: dict | None, texts: dict, used: set):
    names = [Path(path).name, str(path)]
    if meta:
        names += [meta.get("corpus"), f"{meta.get('corpus')}/{meta.get('config')}"]
    for name in names:
        if name in texts:
            used.add(name)
            return texts[name]
    return None


def run(args) -> dict:
    """Load, score and write every dataset; with --no-progress no library bars either."""
    from smoothclap.evaluation.progress import library_progress_bars

    with library_progress_bars(not args.no_progress):
        return _run(args)


def _run(args) -> dict:
    texts = _validate(args)
    used: set = set()
    sets = []
    for path in args.dataset:
        meta = read_meta(Path(path)) if Path(path).is_dir() else None
        sets.append(load_eval_set(path, args.split, _texts_for(path, meta, texts, used)))
    unknown = sorted(set(texts) - used)
    if unknown:
        raise EvaluationError(f"--texts names unknown dataset(s) {unknown}; known: "
                              f"{sorted({s.key for s in sets} | {s.corpus for s in sets})}.")
    keys = [s.key for s in sets]
    for s in sets:
        if keys.count(s.key) > 1:
            s.key = f"{s.key}@{Path(s.path).name}"
    if len({s.key for s in sets}) != len(sets):
        raise EvaluationError(f"The same dataset is given twice: {keys}.")

    from accelerate import Accelerator

    accelerator = Accelerator()
    if args.dtype not in ("float32", "auto") and accelerator.device.type != "cpu":
        raise EvaluationError(f"--dtype {args.dtype} is a CPU fast path; this run is on {accelerator.device}.")
    batch_size = args.batch_size or (16 if accelerator.device.type == "cuda" else 1)
    out = Path(args.output_dir)
    per_model = {}
    for name in args.model:  # one at a time: a second model never waits in memory beside the first
        model, processor = load_model(name, accelerator.device, dtype=args.dtype, backend=args.backend)
        if args.dtype == "auto" or args.backend != "auto":
            print(f"audio encoder of {name}: {model.audio_backend} {model._cpu_fast_path} "
                  f"({model.audio_backend_reason})", file=sys.stderr)
        folder = out if len(args.model) == 1 else out / _slug(name)
        if accelerator.is_main_process:
            folder.mkdir(parents=True, exist_ok=True)
        per_model[name] = _evaluate_sets(args, name, sets, model, processor, accelerator, batch_size, folder)
        del model, processor
    results = _write_results(args, sets, per_model, out) if accelerator.is_main_process else per_model
    accelerator.wait_for_everyone()
    return results


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name.strip("/").replace("/", "__"))


def _write_results(args, sets, per_model: dict, out: Path) -> dict:
    """results.json / results.md: one model as before (by dataset), several with the comparison."""
    from smoothclap.evaluation.comparison import compare_models, comparison_table, model_section

    comparisons = compare_models(per_model, sets, args.bootstrap, args.seed) if len(per_model) > 1 else None
    for results in per_model.values():
        for result in results.values():
            result.pop("_rows")
    if comparisons is None:
        (name, results), = per_model.items()
        text = model_section(name, results, args.paper)
    else:
        results = {"models": per_model, "comparisons": comparisons}
        text = "\n\n".join([model_section(n, r, args.paper) for n, r in per_model.items()]
                            + [comparison_table(comparisons)])
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    (out / "results.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    if args.update_model_card:
        update_model_card(args.update_model_card, results, args.model_name or args.model[0],
                          command=shlex.join(args.invocation.split() + args.argv))
    return results


def _evaluate_sets(args, name, sets, model, processor, accelerator, batch_size, out) -> dict:
    """Each dataset scored; the main process writes its PNG and per-clip predictions (kept in
    each result's "_rows" for a comparison of models)."""
    from smoothclap.evaluation.leakage import leakage, read_record, warning

    results, cache, record = {}, {}, read_record(name)
    found = {s.key: leakage(record, s.corpus, s.dataset) for s in sets}
    leaks = [line for line in (warning(key, f) for key, f in found.items()) if line]
    if args.strict and leaks:
        raise EvaluationError(leaks[0].removeprefix("warning: ") + " (--strict)")
    if accelerator.is_main_process:
        for line in leaks:
            print(line, file=sys.stderr)
    for s in sets:
        templates, source = _set_templates(args.template, s, model)
        if accelerator.is_main_process and not args.no_progress:
            print(f"{s.key}: query texts {s.texts[:2]}{' ...' if len(s.texts) > 2 else ''}, templates {templates} "
                  f"({source})", file=sys.stderr)
        result = evaluate_model(model, processor, s, templates=templates, batch_size=batch_size,
                                accelerator=accelerator, window=args.window, hop=args.hop,
                                bootstrap=args.bootstrap, seed=args.seed, progress=not args.no_progress,
                                cache=cache, speaker_norm=args.speaker_norm)
        result.update(found[s.key])
        result.update(template_source=source, model=name, window=args.window, hop=args.hop,
                      batch_size=batch_size, num_processes=accelerator.num_processes,
                      audio_dtype=model._cpu_fast_path, audio_backend=model.audio_backend)
        if accelerator.is_main_process:
            stem = s.key.replace("/", "_").replace("@", "_")
            png = out / f"confusion_{stem}.png"
            plot_confusion(result, PAPER_TABLE1.get((s.corpus, s.config), (s.key,))[0], png)
            result["confusion_png"] = png.name
            rows = out / f"predictions_{stem}.jsonl"
            rows.write_text("".join(json.dumps(row) + "\n" for row in result["_rows"]), encoding="utf-8")
            result["predictions_file"] = rows.name
            for failure in result["failures"]:
                print(f"warning: {s.key}: clip {failure['id']} failed: {failure['error']}", file=sys.stderr)
        results[s.key] = result
    return results


def _check_outputs(args) -> None:
    """--output-dir and --update-model-card, before the model loads (they failed after the work)."""
    from smoothclap.data.outdir import check_output_location

    check_output_location(args.output_dir, "--output-dir", "folder", EvaluationError)
    card = args.update_model_card
    if not card:
        return
    if len(args.model) > 1:
        raise EvaluationError("--update-model-card writes one model's card: give one --model with it.")
    check_output_location(card, "--update-model-card", "file", EvaluationError)
    if not Path(card).expanduser().parent.is_dir():
        raise EvaluationError(f"--update-model-card {card!r}: the folder {str(Path(card).parent)!r} does not exist; "
                              "give the README.md of a model folder.")
    if Path(card).expanduser().is_file():
        from huggingface_hub import ModelCard

        try:
            ModelCard(Path(card).expanduser().read_text(encoding="utf-8")).data.to_dict()
        except Exception as err:  # yaml's and huggingface_hub's errors: a card this run cannot update
            raise EvaluationError(f"--update-model-card {card!r}: its YAML header does not parse "
                                  f"({str(err).splitlines()[0]}); fix it or give another card.") from None


def _set_templates(given, eval_set, model) -> tuple[list, str]:
    """Templates for one dataset: ``--template`` when given; for a dataset whose query texts are
    its bare labels, the model's own query_template (the one it was trained with); else "{}"
    (the dataset's query texts are whole sentences already)."""
    from smoothclap.models.pipeline_smoothclap import resolve_templates

    if given is None and list(eval_set.texts) == list(eval_set.labels):
        return resolve_templates(model.config)
    return (list(given), "--template") if given else (["{}"], "the dataset's query texts as they are")


def main(argv=None, prog: str | None = None) -> dict:
    """The results by dataset key; bad input: one ``error:`` line and SystemExit(2)."""
    from smoothclap.console import invocation

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    args.argv, args.invocation = argv, invocation(parser.prog)
    try:
        return run(args)
    except ValueError as err:  # EvaluationError and the shared checks' errors: bad input
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def cli(argv=None, prog: str | None = None) -> int:
    """Console script (`evaluate-zeroshot`, `smoothclap evaluate`): the exit status, not the results."""
    from smoothclap.console import exit_status

    return exit_status(main, argv, prog=prog)


if __name__ == "__main__":
    sys.exit(cli())
