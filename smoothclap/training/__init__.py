"""Pieces of ``train_accelerate.py`` that are not the training loop itself.

- ``config``: the command line, ``--config`` files (YAML/JSON, flags win) and the checks
  of every hyper-parameter before any work starts.
- ``towers``: the model from --model or two encoders, frozen/full/LoRA towers, the
  optimizer's parameter groups, the separate local feature extractor.
- ``loss``: the soft-target loss over the global batch (embeddings gathered with gradient).
- ``data``: loading and checking a dataset built by ``smoothclap.data``, the crop policy,
  per-epoch captions and the collator.
- ``cache``: the frozen-feature cache (pooled audio-encoder / local-extractor outputs on
  disk, keyed by encoder + crop policy, computed per process shard).
- ``checkpoints``: atomic checkpoints, ``latest``, rotation, the best-model folder.
- ``export``: the Hub-ready folder (LoRA merged or kept), its model card, the upload.
- ``zeroshot``: validation UAR per epoch (through ``smoothclap.evaluation``, the evaluation core).
- ``assets``: the folders the package ships (configs/, metrics/, space/) and the offline
  MiniLM text encoder of the demo.
"""
