"""Run by test_python_engine.py in a fresh process: the Python Engine with the Tempo plugin."""

import json
import os
import sys

os.environ["TEMPO_SGLANG_POLICY"] = "tempo"
os.environ["SGLANG_USE_CPU_ENGINE"] = "1"

if __name__ == "__main__":
    import sglang as sgl

    engine = sgl.Engine(model_path=sys.argv[1], device="cpu", attention_backend="torch_native",
                        sampling_backend="pytorch", max_total_tokens=4096, mem_fraction_static=0.05)
    try:
        good = engine.generate("Hello", {"max_new_tokens": 4, "temperature": 0, "custom_params": {
            "tempo": {"class": "deadline", "deadline_ms": 30000}}})
        try:
            engine.generate("Hello", {"max_new_tokens": 4, "custom_params": {"tempo": {"class": "deadline"}}})
            error = None
        except ValueError as exc:
            error = str(exc)
        print("RESULT " + json.dumps({"tempo": good["meta_info"]["tempo"][-1], "error": error}))
    finally:
        engine.shutdown()
