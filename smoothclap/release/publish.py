"""`smoothclap publish`: check a SmoothCLAP model folder or a built dataset, then upload it.

    smoothclap publish MODEL_DIR --repo-id ORG/NAME [--private] [--revision REV] [--dry-run]
    smoothclap publish DATASET_DIR --repo-type dataset --repo-id ORG/NAME [--public] [...]

A dataset holding audio or speaker ids (participants' voices and names) is uploaded PRIVATE
unless ``--public`` is given; the dry run says so, and ``--public`` lists what it exposes.

The checks run before anything is uploaded; each failure is one ``error:`` line naming the
check and the fix, and the exit status is 2. ``--dry-run`` stops after the checks and the
list of files (with sizes). An upload that fails (offline, no token) is one ``error:`` line
with the command that retries it, exit status 1.

Licensed corpora (MSP-Podcast, IEMOCAP, FAU-Aibo, ALC, SLD): a PUBLIC upload with audio is
refused. A PRIVATE one passes with a warning: a private repository is still a copy on a
third party's servers, readable by everyone in the organisation, which the licence
agreements usually do not allow either; the user who signed the agreement has to decide.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

from smoothclap.repo_ids import REPO_ID  # the Hub's ORG/NAME, as the trainer's export checks it

# corpora whose licence agreement forbids redistributing their audio (smoothclap.json `corpus`)
LICENSED_CORPORA = {"msp_podcast": "MSP-Podcast", "iemocap": "IEMOCAP", "fau_aibo": "FAU-Aibo", "alc": "ALC",
                    "sld": "SLD"}
PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
TEXT_FILES = (".json", ".md", ".txt", ".yaml", ".yml", ".py")
AUDIO_FILES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".sph", ".webm")
IGNORED_DIRS = (".git", ".cache")  # upload_folder leaves .git and .cache/huggingface out too
IGNORED_FILES = (".smoothclap-build-id",)  # smoothclap.data' marker of which build a folder holds
LOAD_TIMEOUT = 900
# an absolute path: /a/b... not inside a URL or a longer word, or a Windows drive path
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.@+-]+/)+[\w.@+-]*|\b[A-Za-z]:\\[\w .\\-]+")
PERSONAL_ROOTS = ("/home/", "/Users/", "/root/", "/tmp/", "/private/", "/var/folders/")
SYSTEM_ROOTS = {"usr", "bin", "sbin", "lib", "lib64", "etc", "dev", "proc", "sys", "opt", "var", "run"}

EPILOG = """\
checks (all run before anything is uploaded; each failure is one `error:` line, exit 2):
  safetensors    weights as *.safetensors only, no pickled files (.bin .pt .pth .pkl .ckpt)
  local paths    no absolute local path in a text file (json md txt yaml py)
  card           README.md parses as a huggingface_hub ModelCard/DatasetCard with the Hub's
                 metadata: model license, pipeline_tag, library_name, base_model, datasets,
                 model-index (when training_results.json has results); dataset license,
                 task_categories
  remote code    config.json's auto_map names *_smoothclap.py files that are in the folder
  load           (model) AutoModel, AutoProcessor and pipeline("zero-shot-audio-classification")
                 load the folder in a fresh process (trust_remote_code=True) and classify a tone;
                 runs once the other checks pass (it takes seconds to minutes)
  licence        (dataset) no audio in a public upload of MSP-Podcast, IEMOCAP, FAU-Aibo, ALC,
                 SLD (`python -m smoothclap.data export-captions` removes it); private: a warning

exit status: 0 uploaded (or --dry-run: every check passed), 1 the upload failed, 2 a check failed
examples:
  smoothclap publish runs/x/model --repo-id me/smoothclap --dry-run
  smoothclap publish data/msp_podcast_captions --repo-type dataset --repo-id me/msp-captions --private
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smoothclap publish", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Check a SmoothCLAP model folder (the trainer's <output-dir>/model) or a "
                                            "built dataset, then upload it to the Hugging Face Hub.")
    p.add_argument("folder", metavar="DIR", help="the model folder, or with --repo-type dataset a built dataset")
    p.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub")
    p.add_argument("--repo-type", choices=("model", "dataset"), default="model")
    p.add_argument("--private", action="store_true",
                   help="create the repository private (the default for a dataset holding audio or speaker ids)")
    p.add_argument("--public", action="store_true",
                   help="create it public even though the dataset holds audio or speaker ids (the dry run lists "
                        "what that exposes)")
    p.add_argument("--revision", default=None, help="branch to upload to (created if missing; default main)")
    p.add_argument("--dry-run", action="store_true", help="run the checks and list the files; upload nothing")
    return p


# --------------------------------------------------------------------------- files
def upload_files(folder: str) -> list[tuple[str, int]]:
    """(relative path, size) of every file upload_folder would send."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in sorted(f for f in files if f not in IGNORED_FILES):
            path = os.path.join(root, name)
            out.append((os.path.relpath(path, folder).replace(os.sep, "/"), os.path.getsize(path)))
    return out


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


# --------------------------------------------------------------------------- checks
# each check returns a list of problems ("what is wrong; how to fix it"), empty when it passes
def check_safetensors(folder: str, files, repo_type: str) -> list[str]:
    pickled = [f for f, _ in files if f.lower().endswith(PICKLED_WEIGHTS)]
    if pickled:
        return [f"{', '.join(pickled)}: pickled files run code when loaded; save weights with "
                "save_pretrained(..., safe_serialization=True) and delete these files"]
    if repo_type == "model" and not any(f.endswith(".safetensors") for f, _ in files):
        return ["no *.safetensors weights in the folder; export the model with save_pretrained (the trainer's "
                "<output-dir>/model)"]
    return []


def _personal(path: str) -> bool:
    """A path that belongs to this machine (a home, temp or existing data folder), not an
    example in the documentation such as /data/MSP-PODCAST."""
    if path.startswith(PERSONAL_ROOTS) or re.match(r"[A-Za-z]:\\", path):
        return True
    parts = path.strip("/").split("/")
    return parts[0] not in SYSTEM_ROOTS and len(parts) > 1 and os.path.exists("/" + "/".join(parts[:2]))


def check_local_paths(folder: str, files, repo_type: str) -> list[str]:
    found = []
    for rel, _ in files:
        if not rel.lower().endswith(TEXT_FILES):
            continue
        with open(os.path.join(folder, rel), encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                found += [(rel, lineno, m.rstrip(".,;:")) for m in ABSOLUTE_PATH.findall(line) if _personal(m)]
    if not found:
        return []
    where = "; ".join(f"{rel}:{n} {path}" for rel, n, path in found[:3])
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    return [f"{where}{more}: replace these local paths with names or Hub repo ids (the exporters write names)"]


def check_card(folder: str, files, repo_type: str) -> list[str]:
    from huggingface_hub import DatasetCard, ModelCard

    path = os.path.join(folder, "README.md")
    if not os.path.isfile(path):
        return ["no README.md; the trainer's export and the dataset builders write one (copy it into the folder)"]
    try:
        card = (ModelCard if repo_type == "model" else DatasetCard).load(path)
    except Exception as err:  # yaml errors, a header that is not a mapping, a malformed model-index
        return [f"README.md's YAML header does not parse ({_one_line(err)}); fix the block between the '---' lines"]
    meta = card.data.to_dict()
    if not meta:
        return ["README.md has no YAML metadata header; start it with '---', the metadata, '---' "
                "(the trainer's export and the dataset builders write one)"]
    return card_metadata_problems(meta, folder) if repo_type == "model" else dataset_metadata_problems(meta)


def card_metadata_problems(meta: dict, folder: str) -> list[str]:
    want = {"library_name": "transformers", "pipeline_tag": "zero-shot-audio-classification"}
    bad = [f"README.md metadata {key}: {meta.get(key)!r}, not {value!r}; set `{key}: {value}`"
           for key, value in want.items() if meta.get(key) != value]
    if not meta.get("license"):
        bad.append("README.md metadata has no license; add `license:` (the repository card says apache-2.0; mind "
                   "the encoders' own licences)")
    bases = meta.get("base_model") or []
    bases = [bases] if isinstance(bases, str) else bases
    if not bases or not all(isinstance(b, str) and REPO_ID.fullmatch(b) for b in bases):
        bad.append(f"README.md metadata base_model {meta.get('base_model')!r} is not a list of Hub repo ids; add "
                   "`base_model:` with the encoders' ids (e.g. audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim, "
                   "google-bert/bert-base-uncased), or train with --base-model ORG/NAME: the Hub rejects other values")
    datasets = meta.get("datasets") or []
    local = [d for d in datasets if not (isinstance(d, str) and REPO_ID.fullmatch(d))]
    if local:  # optional on the Hub, but a local folder name there is a broken link
        bad.append(f"README.md metadata datasets {local} are not Hub dataset ids (ORG/NAME); train with "
                   "--dataset-id ORG/NAME to name the Hub copy of the training data, or remove the entry")
    if _has_results(folder) and not meta.get("model-index"):
        bad.append("README.md metadata has no model-index but training_results.json has a validation UAR; "
                   "export the card again (smoothclap train writes it) or run evaluate_zeroshot --update-model-card")
    return bad


def _has_results(folder: str) -> bool:
    path = os.path.join(folder, "training_results.json")
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as fh:
        return json.load(fh).get("validation_uar") is not None


def dataset_metadata_problems(meta: dict) -> list[str]:
    bad = []
    if not meta.get("license"):
        bad.append("README.md metadata has no license; add `license:` (the corpus licence; `other` with "
                   "license_name and license_link for an agreement)")
    elif meta["license"] == "other" and not meta.get("license_name"):
        bad.append("README.md metadata says `license: other` without license_name; add `license_name:` (a slug) "
                   "and `license_link:`")
    if not meta.get("task_categories"):
        bad.append("README.md metadata has no task_categories; add `task_categories: [audio-classification]`")
    return bad


def check_remote_code(folder: str, files, repo_type: str) -> list[str]:
    """config.json's auto_map and the flat files it names (and their relative imports)."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        return ["no config.json; publish the folder the trainer exports (<output-dir>/model)"]
    with open(path, encoding="utf-8") as fh:
        auto_map = json.load(fh).get("auto_map") or {}
    if not {"AutoConfig", "AutoModel"} <= set(auto_map):
        return ["config.json's auto_map lacks AutoConfig/AutoModel; save the model after "
                "register_for_auto_class (the trainer's export does)"]
    needed = {ref.split(".")[0] + ".py" for ref in auto_map.values() if isinstance(ref, str)}
    needed |= {f"{m}.py" for name in list(needed) if os.path.isfile(os.path.join(folder, name))
               for m in re.findall(r"from \.(\w+) import", open(os.path.join(folder, name), encoding="utf-8").read())}
    missing = sorted(n for n in needed if not os.path.isfile(os.path.join(folder, n)))
    if missing:
        return [f"{', '.join(missing)} missing; trust_remote_code loads the model's code from the folder: copy the "
                "*_smoothclap.py files next to config.json (save_pretrained copies them)"]
    return []


LOAD_SCRIPT = r"""
import importlib.abc, json, os, sys
import numpy as np
folder = sys.argv[1]
own = {n[:-3] for n in os.listdir(folder) if n.endswith(".py")}

class OnlyTheFoldersCode(importlib.abc.MetaPathFinder):
    # the flat modules may also be installed (pip install -e .): the check must load the folder's copies
    def find_spec(self, name, path=None, target=None):
        if name in own:
            raise ModuleNotFoundError(f"No module named {name!r} outside the folder")

sys.meta_path.insert(0, OnlyTheFoldersCode())
stage = "AutoModel.from_pretrained(DIR, trust_remote_code=True)"
try:
    from transformers import AutoModel, AutoProcessor, pipeline
    AutoModel.from_pretrained(folder, trust_remote_code=True)
    stage = "AutoProcessor.from_pretrained(DIR, trust_remote_code=True)"
    AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    stage = 'pipeline("zero-shot-audio-classification", model=DIR, trust_remote_code=True)'
    clf = pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True)
    stage = "the pipeline classifying a 1 s tone"
    sr = clf.feature_extractor.sampling_rate
    t = np.arange(sr) / sr
    clip = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = clf(clip, candidate_labels=["calm", "angry"])
    scores = [o["score"] for o in out]
    assert sorted(o["label"] for o in out) == ["angry", "calm"], f"labels {out}"
    assert all(np.isfinite(scores)) and abs(sum(scores) - 1) < 1e-3, f"scores {scores}"
except BaseException as err:
    msg = " ".join(str(err).split())[:300]
    print(json.dumps({"stage": stage, "error": f"{type(err).__name__}: {msg}"}))
    sys.exit(3)
print(json.dumps({"answer": out}))
"""


def check_load(folder: str, files, repo_type: str) -> list[str]:
    """Load and classify in a FRESH process, as a user of the published repo would: nothing
    imported or cached here (the project's own modules, a warm module cache) can help."""
    with tempfile.TemporaryDirectory(prefix="smoothclap-publish-") as tmp:
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_MODULES_CACHE=os.path.join(tmp, "modules"),
                   TOKENIZERS_PARALLELISM="false")
        try:
            proc = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, os.path.abspath(folder)], cwd=tmp, env=env,
                                  capture_output=True, text=True, timeout=LOAD_TIMEOUT)
        except subprocess.TimeoutExpired:
            return [f"loading and classifying took over {LOAD_TIMEOUT} s in a fresh process; try it by hand: "
                    "pipeline('zero-shot-audio-classification', model=DIR, trust_remote_code=True)"]
    report = _last_json(proc.stdout)
    if proc.returncode == 0 and report and "answer" in report:
        return []
    if report and "stage" in report:
        return [f"{report['stage']} failed in a fresh process ({report['error']}); "
                "fix the folder (re-export it with the trainer) and run the dry run again"]
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return [f"the fresh loading process ended with status {proc.returncode} ({tail[:300]})"]


def _last_json(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def check_licence(folder: str, files, repo_type: str, private: bool, warn) -> list[str]:
    from smoothclap.data.card import read_metadata

    meta = read_metadata(folder) or {}
    corpus = meta.get("corpus")
    # the five corpora, and any whose build recorded that its licence forbids sharing the audio
    if corpus not in LICENSED_CORPORA and meta.get("redistribute_audio") is not False:
        return []
    audio = audio_in_dataset(folder, files)
    if not audio:
        return []
    name = LICENSED_CORPORA.get(corpus, corpus)
    if not private:
        out = os.path.normpath(folder) + "_captions"
        return [f"{audio}: the {name} licence forbids redistributing its audio; publish a copy without it: "
                f"`python -m smoothclap.data export-captions --input {folder} --output {out}`"]
    warn(f"warning: {audio}: {name} audio in a private repository; its licence agreement usually forbids any "
         "redistribution: only upload it if your agreement allows it, and keep the repository private")
    return []


def audio_in_dataset(folder: str, files) -> str | None:
    """Where the folder holds audio (an audio file, or an `audio` column with bytes or paths), or None."""
    sounds = [f for f, _ in files if f.lower().endswith(AUDIO_FILES)]
    if sounds:
        return f"audio files ({sounds[0]}{', ...' if len(sounds) > 1 else ''})"
    for rel, _ in files:
        if rel.endswith((".arrow", ".parquet")) and _audio_column_filled(os.path.join(folder, rel)):
            return f"an audio column in {rel}"
    return None


def personal_data(folder: str, files) -> list[str]:
    """What a dataset would expose about the people in it: its audio, its speaker ids."""
    found = []
    audio = audio_in_dataset(folder, files)
    if audio:
        found.append(f"audio ({audio})")
    speakers = set()
    try:
        import datasets

        dd = datasets.load_from_disk(folder)
        for split in (dd.values() if isinstance(dd, datasets.DatasetDict) else [dd]):
            if "speaker" in split.column_names:
                speakers |= {s for s in split["speaker"] if s not in (None, "")}
    except Exception:  # not a datasets folder (files only): no speaker column to read
        pass
    if speakers:
        found.append(f"speaker ids ({len(speakers)} distinct, column 'speaker')")
    return found


def _audio_column_filled(path: str) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.endswith(".parquet"):
        names = pq.read_schema(path).names
        table = pq.read_table(path, columns=["audio"]) if "audio" in names else None
    else:
        with pa.memory_map(path) as source:
            table = pa.ipc.open_stream(source).read_all()
        table = table.select(["audio"]) if "audio" in table.column_names else None
    if table is None:
        return False
    for chunk in table.column("audio").chunks:
        fields = [chunk.field(i) for i in range(chunk.type.num_fields)] if pa.types.is_struct(chunk.type) else [chunk]
        if any(len(f) - f.null_count > 0 for f in fields):
            return True
    return False


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: " + " ".join(str(err).split())[:200]


def run_checks(folder: str, repo_type: str, private: bool, warn, files=None) -> tuple[list[str], list[str]]:
    """(names of the checks that passed, one error line per failed check). The fresh-process
    load (seconds to minutes) runs only once the quick checks pass. ``files``: upload_files(folder)."""
    files = upload_files(folder) if files is None else files
    quick = [("safetensors", check_safetensors), ("local paths", check_local_paths), ("card", check_card)]
    if repo_type == "model":
        quick.append(("remote code", check_remote_code))
    else:
        quick.append(("licence", lambda *a: check_licence(*a, private=private, warn=warn)))
    passed, errors = [], []
    for name, check in quick:
        problems = check(folder, files, repo_type)
        errors += [f"error: {name}: {p}" for p in problems]
        passed += [] if problems else [name]
    if repo_type == "model":
        if errors:
            errors.append("error: load: not run yet (it loads the model in a fresh process); "
                          "fix the errors above first")
        else:
            problems = check_load(folder, files, repo_type)
            errors += [f"error: load: {p}" for p in problems]
            passed += [] if problems else ["load"]
    return passed, errors


# --------------------------------------------------------------------------- upload
def retry_command(args) -> str:
    cmd = f"hf upload {args.repo_id} {args.folder} --repo-type {args.repo_type}"
    return cmd + (" --private" if args.private else "") + (f" --revision {args.revision}" if args.revision else "")


def upload(args) -> str:
    from huggingface_hub import HfApi

    api = HfApi()
    repo = api.create_repo(args.repo_id, repo_type=args.repo_type, private=args.private, exist_ok=True)
    if args.revision:
        api.create_branch(args.repo_id, repo_type=args.repo_type, branch=args.revision, exist_ok=True)
    ignore = [f"{d}/*" for d in IGNORED_DIRS] + [f"**/{d}/*" for d in IGNORED_DIRS] + list(IGNORED_FILES)  # as listed
    api.upload_folder(folder_path=args.folder, repo_id=args.repo_id, repo_type=args.repo_type, revision=args.revision,
                      ignore_patterns=ignore, commit_message=f"Upload SmoothCLAP {args.repo_type} (smoothclap publish)")
    return str(repo)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not REPO_ID.fullmatch(args.repo_id):
        print(f"error: --repo-id {args.repo_id!r} is not ORG/NAME", file=sys.stderr)
        return 2
    if not os.path.isdir(args.folder):
        print(f"error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    mismatch = kind_mismatch(args.folder, args.repo_type)
    if mismatch:
        print(f"error: {mismatch}", file=sys.stderr)
        return 2
    warn = lambda line: print(line, file=sys.stderr)  # noqa: E731
    files = upload_files(args.folder)
    if args.private and args.public:
        print("error: --private and --public contradict each other; give one", file=sys.stderr)
        return 2
    exposed = personal_data(args.folder, files) if args.repo_type == "dataset" else []
    args.visibility_note = ""
    if exposed and not args.public:  # participants' voices and ids stay private unless said otherwise
        args.private = True
        args.visibility_note = f" by default: the dataset holds {' and '.join(exposed)}; --public to publish them"
    elif exposed:
        for item in exposed:
            warn(f"warning: --public exposes {item} to anyone")
    passed, errors = run_checks(args.folder, args.repo_type, args.private, warn, files)
    if args.dry_run:
        print_plan(args, files)
    for line in errors:
        print(line, file=sys.stderr)
    if errors:
        return 2
    print(f"checks passed: {', '.join(passed)}")
    if args.dry_run:
        return 0
    try:
        url = upload(args)
    except Exception as err:  # offline, no token, no permission, a network error
        print(f"error: upload of {args.folder} to {args.repo_id} failed ({_one_line(err)}); the checks passed "
              f"({', '.join(passed)}) and no file was uploaded; retry with the same command when online and logged in "
              f"(hf auth login), or: {retry_command(args)}", file=sys.stderr)
        return 1
    print(f"uploaded {args.folder} to {url}")
    return 0


def kind_mismatch(folder: str, repo_type: str) -> str | None:
    """A built dataset given as a model (the default) or a model folder given as a dataset."""
    is_dataset = any(os.path.isfile(os.path.join(folder, n)) for n in ("dataset_dict.json", "smoothclap.json"))
    is_model = os.path.isfile(os.path.join(folder, "config.json"))
    if repo_type == "model" and is_dataset and not is_model:
        return f"{folder} is a built dataset; add --repo-type dataset"
    if repo_type == "dataset" and is_model and not is_dataset:
        return f"{folder} is a model folder (config.json); drop --repo-type dataset"
    return None


def print_plan(args, files) -> None:
    visibility = ("private" if args.private else "public") + getattr(args, "visibility_note", "")
    print(f"would upload to {args.repo_id} ({args.repo_type}, {visibility}, revision {args.revision or 'main'}):")
    for rel, size in files:
        print(f"  {human_size(size):>10}  {rel}")
    print(f"  {human_size(sum(s for _, s in files)):>10}  in {len(files)} files")


if __name__ == "__main__":
    sys.exit(main())
