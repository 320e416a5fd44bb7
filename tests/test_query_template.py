"""One prompt from training to inference: the model carries the template it was trained and
selected with (config.query_template), and the pipeline and evaluate use it by default."""

import logging

import pytest

from conftest import tiny_model, tiny_processor, tone


def _pipeline(model, processor):
    from smoothclap.models.pipeline_smoothclap import SmoothClapZeroShotAudioClassificationPipeline

    return SmoothClapZeroShotAudioClassificationPipeline(model=model, feature_extractor=processor.feature_extractor,
                                                         tokenizer=processor.tokenizer)


LABELS = ["angry", "happy", "sad", "neutral"]


def test_config_checks_and_keeps_the_template(tmp_path):
    from smoothclap.models.configuration_smoothclap import SmoothClapConfig

    for bad in ("no braces", [], ["this {}", 3]):
        with pytest.raises(ValueError, match="query_template"):
            SmoothClapConfig(query_template=bad)
    model = tiny_model(query_template="the speaker sounds {}.")
    model.save_pretrained(tmp_path)
    assert SmoothClapConfig.from_pretrained(tmp_path).query_template == "the speaker sounds {}."


def test_pipeline_default_is_the_models_own_template():
    processor = tiny_processor()
    own = _pipeline(tiny_model(query_template="the speaker sounds {}."), processor)
    clip = tone(300.0, 1.0)
    default = own(clip, candidate_labels=LABELS)
    explicit = own(clip, candidate_labels=LABELS, hypothesis_template="the speaker sounds {}.")
    stock = own(clip, candidate_labels=LABELS, hypothesis_template="This is a sound of {}.")
    assert default == explicit
    assert [r["score"] for r in default] != [r["score"] for r in stock]  # the template matters here
    assert own.template_source.startswith("the model's query_template")


def test_old_folder_without_a_template_keeps_the_stock_default_with_a_notice(caplog):
    from smoothclap.models.pipeline_smoothclap import DEFAULT_TEMPLATE

    processor = tiny_processor()
    with caplog.at_level(logging.WARNING):
        old = _pipeline(tiny_model(), processor)
    assert any("has no query_template" in r.getMessage() for r in caplog.records)
    clip = tone(300.0, 1.0)
    assert old(clip, candidate_labels=LABELS) == old(clip, candidate_labels=LABELS,
                                                     hypothesis_template=DEFAULT_TEMPLATE)


@pytest.mark.parametrize("texts, template", [
    (["this person is feeling angry.", "this person is feeling sad.", "this person is feeling surprised."],
     "this person is feeling {}."),
    (["speaker is sad", "speaker is sadder"], "speaker is {}"),  # the shared 's' is the label's, not the frame's
    (["angry", "sad"], None),
    (["this person is feeling angry."], None),
    (["the speaker is angry", "a voice that is sad"], None),
])
def test_template_from_stored_query_texts(texts, template):
    from smoothclap.training.data import template_from_texts

    assert template_from_texts(texts) == template


def test_evaluate_wraps_bare_labels_in_the_models_template_and_keeps_sentences():
    from smoothclap.evaluation.evaluate import _set_templates
    from smoothclap.evaluation.data import EvalSet

    model = tiny_model(query_template="the speaker sounds {}.")
    bare = EvalSet(key="x", corpus="x", config="x", path="x", splits=["test"], labels=LABELS, texts=LABELS,
                   dataset=None)
    sentences = EvalSet(key="y", corpus="y", config="y", path="y", splits=["test"], labels=LABELS,
                        texts=[f"this person is feeling {x}." for x in LABELS], dataset=None)
    assert _set_templates(None, bare, model)[0] == ["the speaker sounds {}."]
    assert _set_templates(None, sentences, model)[0] == ["{}"]
    assert _set_templates(["a {} voice"], bare, model)[0] == ["a {} voice"]
