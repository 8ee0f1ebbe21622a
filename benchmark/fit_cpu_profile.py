"""Measure the CPU engine's step costs on this host and fit a cost profile (`sim.costmodel`).

Starts one stock SGLang server (fcfs, the default model, the CPU recipe) and measures, from the
client's token timestamps (streaming, ``ignore_eos``, random token ids so nothing hits the prefix
cache):

- decode steps: ``B`` concurrent requests at a prompt of ``ctx`` tokens; the median gap between
  consecutive tokens after the 8th (all requests decode together then) is one step of ``B``
  requests at ``B x (ctx + ~28)`` context tokens;
- prefill passes: one request of ``n`` prompt tokens and one output token; its time to first token is
  one prefill pass of ``n`` tokens (plus the HTTP round trip, ~2 ms).

Then decode ``t = c0 + (c1 + c4) B + c3 sum(ctx)`` and prefill ``t = c0 + c4 + prefill_pass + c1 n +
c2 n^2 / 2`` are fitted by non-negative least squares on relative error, and the profile is written
with the measured table in its provenance. ``--bench-from`` copies the ``bench`` section (SLO and
length scales) of a shipped profile, scaled so the tier-1 TBT stays the same multiple of the
single-stream decode step.

    .venv/bin/python benchmark/fit_cpu_profile.py --name smollm2-135m-cpu-amx \\
        --out python/tempo_sglang/sim/profiles/smollm2-135m-cpu-amx.json     # ~3 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import uuid
from pathlib import Path

import aiohttp
import numpy as np

from tempo_sglang.bench.client import LiveRequest, send_request
from tempo_sglang.launcher import ServerProcess
from tempo_sglang.models import resolve_model
from tempo_sglang.sim.costmodel import CostModel, cpu_flags, load_profile, nonneg_lstsq
from tempo_sglang.slo import parse_tempo_params

DECODE_POINTS = ((1, 200), (4, 200), (8, 200), (16, 200), (32, 200), (8, 800), (16, 1000))
PREFILL_POINTS = (64, 256, 512, 1024, 2048)
DECODE_TOKENS = 48


def _request(rng: random.Random, prompt: int, tokens: int) -> LiveRequest:
    return LiveRequest(rid=uuid.uuid4().hex, slo=parse_tempo_params(None), max_new_tokens=tokens,
                       input_ids=[rng.randrange(200, 40000) for _ in range(prompt)], ignore_eos=True)


async def _decode_step(url: str, batch: int, ctx: int, rng: random.Random) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        reqs = [_request(rng, ctx, DECODE_TOKENS) for _ in range(batch)]
        results = await asyncio.gather(*(send_request(session, url, r) for r in reqs))
    gaps = sorted(b - a for r in results for a, b in zip(r.record.token_times[8:], r.record.token_times[9:],
                                                         strict=False))
    return float(gaps[len(gaps) // 2])


async def _prefill_pass(url: str, tokens: int, rng: random.Random, repeats: int = 3) -> float:
    out = []
    async with aiohttp.ClientSession() as session:
        for _ in range(repeats):
            result = await send_request(session, url, _request(rng, tokens, 1))
            out.append(result.record.first_token_time - result.record.arrival)
    return float(np.median(out))


def measure(model: Path, log: Path) -> dict:
    """The measured table: decode step seconds per (B, ctx), prefill pass seconds per prompt length."""
    rng = random.Random(0)
    with ServerProcess(model_path=model, policy="fcfs", log_path=log) as server:
        asyncio.run(_decode_step(server.url, 2, 64, rng))  # warm-up
        decode = {f"{b}x{c}": asyncio.run(_decode_step(server.url, b, c, rng)) for b, c in DECODE_POINTS}
        prefill = {str(n): asyncio.run(_prefill_pass(server.url, n, rng)) for n in PREFILL_POINTS}
    return {"decode": decode, "prefill": prefill}


def fit_table(table: dict) -> tuple[tuple[float, ...], float, dict]:
    """(c0..c4, prefill_pass, relative errors) from a measured table."""
    mid = DECODE_TOKENS // 2 + 4  # context added while decoding, at the measured tokens
    dx, dy = [], []
    for key, sec in table["decode"].items():
        b, c = (int(v) for v in key.split("x"))
        dx.append([1.0, b, b * (c + mid)])
        dy.append(sec)
    dx, dy = np.array(dx), np.array(dy)
    c0, per_req, c3 = nonneg_lstsq(dx / dy[:, None], np.ones_like(dy))
    px = np.array([[1.0, int(n), int(n) ** 2 / 2.0] for n in table["prefill"]])
    py = np.array(list(table["prefill"].values()))
    p0, c1, c2 = nonneg_lstsq(px / py[:, None], np.ones_like(py))
    c4 = max(per_req - c1, 0.0)
    prefill_pass = max(p0 - c0 - c4, 0.0)
    err = {"decode_mean_abs_rel": float(np.mean(np.abs(dx @ [c0, per_req, c3] - dy) / dy)),
           "prefill_mean_abs_rel": float(np.mean(np.abs(px @ [p0, c1, c2] - py) / py))}
    return (float(c0), float(c1), float(c2), float(c3), float(c4)), float(prefill_pass), err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--name", required=True, help="profile name")
    ap.add_argument("--out", required=True, help="profile JSON to write")
    ap.add_argument("--bench-from", default="smollm2-135m-cpu", help="shipped profile whose bench section to scale")
    ap.add_argument("--table", default=None, help="fit a table measured before (JSON) instead of measuring")
    args = ap.parse_args()
    out = Path(args.out)
    table = json.loads(Path(args.table).read_text()) if args.table else measure(
        resolve_model(args.model), Path("/tmp") / f"fit-profile-{args.name}.log")
    coeffs, prefill_pass, err = fit_table(table)
    ref = load_profile(args.bench_from)
    model = CostModel(name=args.name, coeffs=coeffs, max_running=ref.max_running,
                      kv_capacity_tokens=ref.kv_capacity_tokens, chunk_size=ref.chunk_size, prefill_pass=prefill_pass)
    bench = dict(ref.meta.get("bench") or {})
    single = model.decode_step_time(1, 200) / ref.decode_step_time(1, 200)
    if "slo_scale" in bench:
        bench["slo_scale"] = round(float(bench["slo_scale"]) * single, 2)
        bench["why"] = (f"{args.bench_from}'s rule (tier-1 TBT the same multiple of the single-stream decode step "
                        f"at context 200), scaled by this host's step ({model.decode_step_time(1, 200) * 1e3:.0f} ms) "
                        f"over that profile's ({ref.decode_step_time(1, 200) * 1e3:.0f} ms); lengths as there.")
    flags = sorted(f for f in cpu_flags() if f.startswith(("amx", "avx512_bf16")))
    model.meta = {
        "model": ref.meta.get("model", ""),
        "hardware": f"this host's CPU (flags {', '.join(flags) or 'no AMX'}), CPU engine (SGLANG_USE_CPU_ENGINE=1)",
        "provenance": "benchmark/fit_cpu_profile.py: stock SGLang fcfs server, decode steps from the median "
                      "token gap of B concurrent streams, prefill passes from single-request TTFT; measured "
                      "table: " + json.dumps(table),
        "error": {"fit": err}, "bench": bench}
    model.save(out)
    print(json.dumps({"coefficients": coeffs, "prefill_pass": prefill_pass, "error": err, "bench": bench}, indent=1))


if __name__ == "__main__":
    main()
