"""Request analyzer: output-length bounds and program-graph matching (no SGLang import)."""
