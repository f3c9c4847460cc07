"""Regenerates full_database.json with the real aiconfigurator-core 0.12.0 (pip install it first).

Usage: python gen_full_database.py <aiconfigurator_core/systems dir of the 0.12.0 wheel> > full_database.json
"""

import json
import sys

import aiconfigurator_core
from aiconfigurator_core.sdk import engine as E

systems = sys.argv[1]
specs = []
to_bincode = aiconfigurator_core.engine_spec_bincode_from_json


def capture(spec_json):
    specs.append(json.loads(spec_json))
    return to_bincode(spec_json)


aiconfigurator_core.engine_spec_bincode_from_json = capture
points = []
for system in ["h200_sxm", "h100_sxm"]:
    for backend in ["trtllm", "vllm", "sglang"]:
        for model, tps in [("Qwen/Qwen3-32B", [1, 4]), ("meta-llama/Meta-Llama-3.1-8B", [1, 2])]:
            for tp in tps:
                handle = E.EngineHandle.compile(model, system, backend, tp_size=tp, systems_path=systems)
                version = specs[-1]["engine"]["backend_version"]
                base = dict(system=system, model=model, backend=backend, version=version, tp=tp)
                for isl in [512, 4096]:
                    ms = handle.predict_prefill_latency(1, isl, 0)
                    points.append(dict(base, phase="prefill", batch=1, isl=isl, latency_ms=ms))
                for batch in [1, 32]:
                    for isl in [1024, 8192]:
                        ms = handle.predict_decode_latency(batch, isl, 2)
                        points.append(dict(base, phase="decode_step", batch=batch, isl=isl, latency_ms=ms))
json.dump(points, sys.stdout, indent=1)
