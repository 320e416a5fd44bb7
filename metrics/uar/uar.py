"""UAR (unweighted average recall) as a Hugging Face `evaluate` metric.

    import evaluate
    uar = evaluate.load("metrics/uar")            # a local folder: works offline
    uar.compute(predictions=[0, 1, 1], references=[0, 1, 0])
    # {'uar': 0.75}

The computation lives in ``uar_core.py`` (numpy only), shared with evaluate_zeroshot.py.
"""

import datasets
import evaluate

from .uar_core import bootstrap_uar
from .uar_core import compute_uar

_DESCRIPTION = """
Unweighted average recall (UAR): the mean over classes of each class's recall, the metric
of computational paralinguistics (= balanced accuracy = macro-averaged recall). Classes
are `labels` if given, else the distinct references. A prediction that is not a class is
an error for its row, never an extra class; a class of `labels` without reference samples
is left out with a warning. On request also WA (accuracy), macro-F1, per-class recall, the
confusion matrix, and a percentile bootstrap interval of UAR.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int` or `str`): predicted labels.
    references (`list` of `int` or `str`): true labels.
    labels (`list`, optional): the classes, in the order of the confusion matrix. Default:
        the sorted distinct references. A reference outside `labels` raises ValueError.
    details (`bool`, default False): also return `wa`, `macro_f1`, `recall` (per class),
        `labels`, `confusion_matrix` (rows reference, columns prediction; a last column
        "<other>" only when some prediction is not a class) and `confusion_labels`.
    bootstrap (`int`, default 0): with N > 0, also `uar_ci`: a percentile bootstrap
        interval of UAR over N resamples of the rows.
    seed (`int`, default 0): seed of the bootstrap (same inputs and seed, same interval).
    confidence (`float`, default 0.95): level of the bootstrap interval.
Returns:
    dict with `uar` (float in [0, 1]) and the extras asked for.
Examples:
    >>> uar = evaluate.load("metrics/uar")
    >>> uar.compute(predictions=["sad", "sad", "angry"], references=["sad", "angry", "angry"])
    {'uar': 0.75}
    >>> uar.compute(predictions=[2, 0], references=[0, 0], labels=[0, 1])["uar"]  # 1 has no sample
    0.5
"""

_CITATION = """
@inproceedings{schuller2009interspeech,
  title={The INTERSPEECH 2009 emotion challenge},
  author={Schuller, Bj{\\"o}rn and Steidl, Stefan and Batliner, Anton},
  booktitle={Proc. Interspeech},
  pages={312--315},
  year={2009}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Uar(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": datasets.Value("int64"),
                                   "references": datasets.Value("int64")}),
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Value("string")}),
            ],
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.balanced_accuracy_score.html"],
        )

    def _compute(self, predictions, references, labels=None, details=False, bootstrap=0, seed=0,
                 confidence=0.95):
        result = compute_uar(predictions, references, labels=labels, details=details)
        if bootstrap:
            result["uar_ci"] = list(bootstrap_uar(predictions, references, labels=labels,
                                                  n_resamples=bootstrap, seed=seed, confidence=confidence))
        return result
