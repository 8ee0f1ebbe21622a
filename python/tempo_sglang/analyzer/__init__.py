"""Request analyzer: output-length bounds and program-graph matching (no SGLang or torch import).

Engines use `RequestAnalyzer` (``facade``) with its hooks ``on_arrival`` / ``on_progress`` /
``on_finish``; the server validates program calls through `ProgramTracker` (``program_tracker``).
"""

from tempo_sglang.analyzer.facade import AnalyzerConfig, RequestAnalyzer
from tempo_sglang.analyzer.graphs import StageSummary, summarize, validate_graph
from tempo_sglang.analyzer.library import GraphLibrary, MatchResult
from tempo_sglang.analyzer.predictor import LengthPredictor
from tempo_sglang.analyzer.program_tracker import ProgramGraphError, ProgramTracker
from tempo_sglang.analyzer.samples import LengthSample, read_jsonl, write_jsonl

__all__ = [
    "AnalyzerConfig", "GraphLibrary", "LengthPredictor", "LengthSample", "MatchResult", "ProgramGraphError",
    "ProgramTracker", "RequestAnalyzer", "StageSummary", "read_jsonl", "summarize", "validate_graph",
    "write_jsonl",
]
