"""Training-readiness of the model: DistributedDataParallel over two real processes, and
PEFT (LoRA) with the logit scale trained and saved through modules_to_save."""

import os
import socket
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, tiny_model, tiny_processor, tone

# One rank of a 3-step DDP run (gloo, CPU). Both encoders are trainable; LayerDrop = 1.0
# skips every audio encoder layer at every step and SpecAugment's embedding may go
# unused: without SmoothCLAP's safeguards DDP fails at step 2 with "Expected to have
# finished reduction in the prior iteration".
DDP_WORKER = r"""
import os, sys
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, os.path.join(sys.argv[1], "tests"))
import torch
import torch.distributed as dist
from conftest import tiny_audio_config, tiny_text_config
from smoothclap.models.configuration_smoothclap import SmoothClapConfig
from smoothclap.models.modeling_smoothclap import SmoothClapModel

if sys.argv[2] == "no-safeguard":  # the control: what DDP does without the anchor
    SmoothClapModel._anchor = lambda self, x, module: x
dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
audio = tiny_audio_config(layerdrop=1.0, mask_time_prob=0.2, mask_time_length=2)
config = SmoothClapConfig.from_audio_text_configs(audio, tiny_text_config(), projection_dim=16, beta=0.3, gamma=0.5)
model = SmoothClapModel(config).train()
ddp = torch.nn.parallel.DistributedDataParallel(model)
opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
g = torch.Generator().manual_seed(100 + rank)
for step in range(3):
    ids = torch.randint(1000, 2000, (2, 6), generator=g)
    out = ddp(input_ids=ids, attention_mask=torch.ones_like(ids), input_values=torch.randn(2, 8000, generator=g),
              return_loss=True)
    out.loss.backward()
    opt.step()
    opt.zero_grad()
checksum = sum(p.double().sum() for p in model.parameters()).item()
with open(f"rank{rank}.txt", "w") as fh:  # one file per rank: stdout lines of two processes interleave
    fh.write(f"steps=3 checksum={checksum:.8f}")
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_ddp(tmp_path, mode):
    script = tmp_path / "ddp_worker.py"
    script.write_text(DDP_WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(script), ROOT, mode]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)


def test_ddp_two_processes_three_steps(tmp_path):
    proc = _run_ddp(tmp_path, "model")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert all(r.startswith("steps=3 checksum=") for r in results)
    # DDP kept the replicas identical although each rank saw other data
    assert results[0] == results[1]


def test_ddp_control_fails_without_the_safeguard(tmp_path):
    """The test above exercises the failure it guards against."""
    proc = _run_ddp(tmp_path, "no-safeguard")
    assert proc.returncode != 0
    assert "Expected to have finished reduction" in proc.stderr


def test_lora_trains_and_saves_the_logit_scale(tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    processor = tiny_processor()
    batch = processor(text=["speaker is happy", "speaker is sad", "a male is speaking"],
                      audio=[tone(220), tone(330, seed=1), tone(140, seed=2)], sampling_rate=16000)
    base = tiny_model(seed=4, beta=0.3)
    base_query = base.text_model.encoder.layer[0].attention.self.query.weight.detach().clone()
    init_scale = base.logit_scale.log_scale.item()
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"],
                                                 modules_to_save=["logit_scale"]))
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trainable) and any("logit_scale" in n for n in trainable)
    optimizer = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=0.05)
    peft_model.train()
    for _ in range(3):
        peft_model(**batch, return_loss=True).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    trained_scale = peft_model.base_model.model.scale().item()
    assert abs(trained_scale - torch.tensor(init_scale).exp().item()) > 1e-3  # the scale trained
    torch.testing.assert_close(base.text_model.encoder.layer[0].attention.self.query.base_layer.weight, base_query)

    peft_model.save_pretrained(tmp_path / "adapter")
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    assert any("logit_scale" in k for k in saved), sorted(saved)
    restored = PeftModel.from_pretrained(tiny_model(seed=4, beta=0.3), tmp_path / "adapter").eval()
    assert restored.base_model.model.scale().item() == pytest.approx(trained_scale, abs=1e-6)
    peft_model.eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(**batch).logits_per_audio, peft_model(**batch).logits_per_audio)
