"""The zero-shot evaluation core: what ``evaluate_zeroshot.py`` (the command line), the
trainer's validation UAR and the demo share.

- ``metrics``: UAR (the metrics/uar module's computation, numpy only) and the report of a run.
- ``predict``: label embeddings, zero-shot predictions over a dataset (sharded with
  accelerate), model loading with clear errors, one dataset end to end.
- ``data``: a built dataset or a folder-per-label corpus with its labels and query texts.
- ``outputs``: the markdown table, confusion-matrix PNGs, the model card's results.

Importing a submodule loads torch and transformers (as any model use does) but not
datasets, evaluate or matplotlib, and has no side effects. The functions:

    predict.label_embeddings(model, processor, texts, templates=None, batch_size=64) -> (n_labels, d) tensor
        L2-normalised; several templates = their normalised mean, renormalised.
    predict.zero_shot_predict(model, processor, dataset, label_embeds, batch_size=1, accelerator=None,
                              window=None, hop=None, audio_column="audio", id_column="id",
                              progress=True, desc=None) -> ZeroShotPredictions
        dataset: a datasets.Dataset (or a list of row dicts) with an audio column in any
        form audio_smoothclap.load_audio takes. Clips run longest first, ``batch_size`` at
        a time; with an accelerator each process embeds its shard and the results are
        gathered (gather_for_metrics), so every process gets all rows, in dataset order.
        ``.predictions`` (n,) int label index, -1 where a clip failed; ``.logits`` (n, L);
        ``.failures`` [{"index", "id", "error"}]; ``.scored`` boolean mask.
    predict.load_model(name_or_path, device=None, dtype="auto", backend="auto") -> (model, processor)
    predict.evaluate_model(model, processor, eval_set, ...) -> dict   # one dataset, end to end
    metrics.zero_shot_report(predictions, references, labels, bootstrap=1000, seed=0) -> dict
        uar, wa, macro_f1, uar_ci95, n_scored, n_total, recall, confusion_matrix, failures.
    metrics.uar(predictions, references, labels=None, details=False) -> dict
        the metrics/uar module's computation (numpy only), for any UAR in the project.
    data.load_eval_set(path, split="auto", texts=None) -> EvalSet
    outputs.markdown_table(results, paper=False), outputs.plot_confusion(result, title, path),
    outputs.update_model_card(card_path, results, model_name, command="")

Defaults follow the reference ParaCLAP evaluation: the dataset's query texts as they are
(template "{}"), argmax over them, full-length clips at 16 kHz (no windows).
"""

from __future__ import annotations

# The paper's Table 1 (UAR): (corpus, config) -> row name, ParaCLAP, SmoothCLAP.
PAPER_TABLE1 = {
    ("iemocap", "default"): ("IEMOCAP (4cl/en)", 0.600, 0.606),
    ("ravdess", "default"): ("RAVDESS (8cl/en)", 0.228, 0.175),
    ("crema_d", "default"): ("CREMA-D (6cl/en)", 0.177, 0.266),
    ("tess", "default"): ("TESS (7cl/en)", 0.170, 0.275),
    ("fau_aibo", "2class"): ("FAU Aibo (2cl/de)", 0.526, 0.555),
    ("fau_aibo", "5class"): ("FAU Aibo (5cl/de)", 0.197, 0.204),
    ("alc", "default"): ("ALC (2cl/de)", 0.537, 0.541),
    ("sld", "default"): ("SLD (2cl/de)", 0.507, 0.496),
}
# Which rows each Table 1 corpus is scored on (--split auto). The paper gives the test-set
# sizes for FAU-Aibo (Mont, 8 257 chunks) and ALC (3 000); IEMOCAP's 5 531 utterances are
# all five sessions; RAVDESS, CREMA-D, TESS and SLD are scored whole. Any other corpus: its
# `test` split if it has one, else all rows.
PAPER_SPLITS = {"fau_aibo": ["test"], "alc": ["test"], "iemocap": None, "ravdess": None,
                "crema_d": None, "tess": None, "sld": None}
SYNTHETIC_CORPORA = {"demo"}  # say so wherever their numbers appear


class EvaluationError(ValueError):
    """Bad input to the runner: the message names the problem and the fix."""

