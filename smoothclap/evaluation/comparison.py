"""Several models evaluated on the same datasets: each pair's UAR difference with a paired
bootstrap interval that resamples speakers, then clips (`smoothclap.evaluation.compare`), and the
markdown that names each model with its query texts and templates."""

from __future__ import annotations

from itertools import combinations

from smoothclap.evaluation.outputs import markdown_table


def speaker_groups(dataset) -> list:
    """Each clip's speaker (the bootstrap's cluster); a clip without one is its own group."""
    columns = getattr(dataset, "column_names", None) or []
    ids = list(dataset["id"]) if "id" in columns else list(range(len(dataset)))
    if "speaker" not in columns:
        return [f"clip:{i}" for i in ids]
    return [s if s not in (None, "") else f"clip:{i}" for s, i in zip(dataset["speaker"], ids)]


def compare_models(per_model: dict, sets, n_resamples: int, seed: int) -> dict:
    """{dataset key: [one dict per pair of models: paired_bootstrap's fields, "a", "b", "verdict"]}.
    ``per_model``: {model: {dataset key: result with "_rows"}}."""
    from smoothclap.evaluation.compare import paired_bootstrap, verdict

    out = {}
    for s in sets:
        groups = speaker_groups(s.dataset)
        rows = {m: per_model[m][s.key]["_rows"] for m in per_model}
        references = [r["label"] for r in next(iter(rows.values()))]
        pairs = []
        for a, b in combinations(per_model, 2):
            found = paired_bootstrap(references, [r["prediction"] or "(failed)" for r in rows[a]],
                                     [r["prediction"] or "(failed)" for r in rows[b]], groups, labels=s.labels,
                                     n_resamples=n_resamples, seed=seed)
            pairs.append(dict(found, a=a, b=b, verdict=verdict(found, a, b)))
        out[s.key] = pairs
    return out


def model_section(name: str, results: dict, paper: bool) -> str:
    """A model's table, headed by its name and each dataset's query texts and templates."""
    lines = [f"### Model `{name}`", ""]
    for key, r in results.items():
        lines.append(f"- {key}: query texts {r.get('texts')}, templates {r.get('templates')} "
                     f"({r.get('template_source', 'given')})")
    return "\n".join(lines + ["", markdown_table(results, paper=paper)])


def comparison_table(comparisons: dict) -> str:
    lines = ["### Paired differences (bootstrap over speakers, then clips)", "",
             "| dataset | model A | model B | UAR A | UAR B | A - B | 95% CI |", "|---|---|---|---|---|---|---|"]
    for key, pairs in comparisons.items():
        for p in pairs:
            lines.append(f"| {key} | `{p['a']}` | `{p['b']}` | {p['uar_a']:.3f} | {p['uar_b']:.3f} | "
                         f"{p['difference']:+.3f} | [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}] |")
    lines += [""] + [f"- {key}: {p['verdict']}" for key, pairs in comparisons.items() for p in pairs]
    return "\n".join(lines)
