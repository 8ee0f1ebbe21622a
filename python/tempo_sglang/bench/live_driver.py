"""Drive one `Workload` against a live server: open-loop arrivals, programs released as they run.

Roots (standalone calls and program roots) are sent at their arrival offsets whatever the server
does (open loop); a program call is sent ``gap_s`` after its last parent ended (`ProgramReleaser`,
the same bookkeeping the simulator uses). Every call streams, so TTFT and each token's time are
exact (`tempo_sglang.bench.client`). Output lengths are forced without the scheduler seeing them:
the request carries the workload's generous ``max_new_tokens`` cap and ``ignore_eos``; the client
stops reading after the recorded length and aborts the rest on the server.

The arrival window is followed by a drain of at most ``drain_s``: calls still running then are cut
(aborted on the server, recorded with status ``aborted``) and program calls never released are
recorded as ``dropped``, so every call of the workload ends in a record and none is lost silently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field

import aiohttp

from tempo_sglang.bench.client import LiveRequest, LiveResult, send_request
from tempo_sglang.bench.prompt_ids import PromptBuilder
from tempo_sglang.core.views import RequestRecord
from tempo_sglang.sim.cost_sums import CostSums
from tempo_sglang.slo import parse_tempo_params
from tempo_sglang.workloads import ProgramReleaser, WorkItem, Workload
from tempo_sglang.workloads.release import cutoff_time


@dataclass
class DriveResult:
    """What one drive produced: a record per call, the run's wall duration and the server's figures."""

    records: list[RequestRecord]
    duration: float
    scheduler: dict | None = None
    detail: list[dict] = field(default_factory=list)


def _detail(item: WorkItem, rec: RequestRecord, result: LiveResult | None) -> dict:
    gaps = [b - a for a, b in zip(rec.token_times, rec.token_times[1:], strict=False)]
    view = result.tempo_view if result is not None else {}
    return {"rid": item.rid, "class": item.slo_class.value, "program_id": item.program_id, "tier": item.tier,
            "arrival": rec.arrival, "prompt_len": item.prompt_len, "target_len": item.output_len,
            "tokens": rec.output_len, "status": rec.status, "demoted": rec.demoted,
            "ttft": (rec.first_token_time - rec.arrival) if rec.first_token_time else None,
            "e2e": (rec.finish_time - rec.arrival) if rec.finish_time else None,
            "max_gap": max(gaps, default=0.0), "cached": rec.cached_len,
            "error": result.error if result is not None else "never sent: program out of time",
            "predicted_bound": view.get("predicted_bound")}


def run_share(before: dict | None, after: dict | None) -> dict | None:
    """The server's figures after a run, with its cumulative ``cost_sums`` (`sim.cost_sums`) reduced to
    this run's share (the server may have served earlier runs): ``after`` minus ``before``."""
    if not after or not before or "cost_sums" not in after or "cost_sums" not in before:
        return after
    share = CostSums.from_dict(after["cost_sums"]) - CostSums.from_dict(before["cost_sums"])
    return {**after, "cost_sums": share.to_dict()}


class LiveDriver:
    """One run of a workload against ``url`` (see module docstring)."""

    def __init__(self, url: str, workload: Workload, *, tag: str, drain_s: float, seed: int = 0,
                 progress: bool = True):
        self.url, self.workload, self.tag, self.drain_s = url, workload, tag, drain_s
        self.prompts = PromptBuilder(seed)
        self.releaser = ProgramReleaser(workload.items)
        self.progress = progress
        self.results: dict[str, tuple[WorkItem, RequestRecord, LiveResult | None]] = {}
        self.program_wall_start: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()

    def _request(self, item: WorkItem) -> LiveRequest:
        slo = item.slo
        if slo.program_id is not None:  # unique per run: program ids and node ids are reused by seeds
            slo = dataclasses.replace(slo, program_id=f"{self.tag}:{slo.program_id}")
        start = self.program_wall_start.setdefault(item.program_id, time.time()) if item.program_id else None
        return LiveRequest(rid=f"{self.tag}:{item.rid}", slo=slo, max_new_tokens=item.max_new_tokens,
                           input_ids=self.prompts.input_ids(item), ignore_eos=True, stop_after=item.output_len,
                           program_start=start)

    async def _call(self, session: aiohttp.ClientSession, item: WorkItem, at: float, bar) -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        remaining = self._cutoff - time.time()
        if remaining <= 0:
            return
        result = await send_request(session, self.url, self._request(item), timeout=remaining)
        rec = result.record
        if result.error and "Timeout" in result.error.split(":", 1)[0]:
            rec.status = "aborted"
            await self._abort(session, f"{self.tag}:{item.rid}")
        self.results[item.rid] = (item, rec, result)
        if bar is not None:
            bar.update(1)
        for release, child in self.releaser.finished(item, time.time() - self._t0):
            self._spawn(session, child, self._t0 + release, bar)

    async def _abort(self, session: aiohttp.ClientSession, rid: str) -> None:
        try:
            async with session.post(self.url + "/abort_request", json={"rid": rid},
                                    timeout=aiohttp.ClientTimeout(total=30)):
                pass
        except (aiohttp.ClientError, TimeoutError):
            pass

    def _spawn(self, session, item: WorkItem, at: float, bar) -> None:
        task = asyncio.ensure_future(self._call(session, item, at, bar))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> DriveResult:
        """Send the workload, wait for the drain, and return a record for every call."""
        from tqdm import tqdm

        roots = self.releaser.roots()
        first = min((it.arrival for it in roots), default=0.0)
        bar = tqdm(total=len(self.workload.items), desc=f"{self.tag}", unit="call", leave=False) \
            if self.progress else None
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            before = await self._scheduler_figures(session, "probe-start")
            self._t0 = time.time() - first
            self._cutoff = self._t0 + cutoff_time(self.workload.items, self.drain_s)
            for item in roots:
                self._spawn(session, item, self._t0 + item.arrival, bar)
            while self._tasks:
                await asyncio.gather(*list(self._tasks))
            end = time.time()
            scheduler = run_share(before, await self._scheduler_figures(session, "probe"))
        if bar is not None:
            bar.close()
        return self._collect(end - (self._t0 + first), scheduler)

    async def _scheduler_figures(self, session: aiohttp.ClientSession, name: str) -> dict | None:
        """A short request that finishes normally brings back the scheduler's own figures."""
        probe = LiveRequest(rid=f"{self.tag}:{name}", slo=parse_tempo_params(None), max_new_tokens=2,
                            input_ids=list(range(300, 308)), ignore_eos=True)
        try:
            return (await send_request(session, self.url, probe, timeout=120)).tempo_view.get("scheduler")
        except Exception:  # noqa: BLE001 - figures are optional; the run's records are not
            return None

    def _collect(self, duration: float, scheduler: dict | None) -> DriveResult:
        records, detail = [], []
        for item in self.workload.items:
            if item.rid in self.results:
                _, rec, result = self.results[item.rid]
            else:  # a program call whose parents ran past the cutoff: never sent
                start = self.program_wall_start.get(item.program_id)
                rec, result = RequestRecord(rid=item.rid, slo=item.slo, arrival=self._cutoff,
                                            prompt_len=item.prompt_len, output_len=0, token_times=[],
                                            finish_time=None, status="dropped", program_start=start), None
            rec.rid, rec.slo = item.rid, item.slo  # one program id per program, as the workload names it
            records.append(rec)
            detail.append(_detail(item, rec, result))
        return DriveResult(records=records, duration=duration, scheduler=scheduler, detail=detail)


def drive_workload(url: str, workload: Workload, *, tag: str, drain_s: float, seed: int = 0,
                   progress: bool = True) -> DriveResult:
    """Run `LiveDriver` to completion (blocking)."""
    return asyncio.run(LiveDriver(url, workload, tag=tag, drain_s=drain_s, seed=seed, progress=progress).run())
