"""Memory across many engine steps: RSS and traced Python allocations must stay flat.

Runs the NumPy exact and streaming runtimes for N steps (default 100 000) on a random
2x128 model (the per-step buffers do not depend on size) with sampling, as the daemon
does, and prints RSS and tracemalloc's current size at checkpoints.

    python benchmarks/engine_memory.py [--steps 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import make_bundle  # noqa: E402


def rss_mb() -> float:
    return int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from liveplay.model.bundle import load_bundle
    from liveplay.config import load_settings
    from liveplay.model.numpy_engine import NumpyEngine
    from liveplay.music.sampler import Sampler

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        bundle = load_bundle(make_bundle(Path(tmp), 2, 128))
    for name, streaming in (("numpy", False), ("numpy-streaming", True)):
        engine = NumpyEngine(bundle, streaming=streaming)
        sampler = Sampler(load_settings().sampler, seed=0)
        history: list[int] = [0]
        engine.reset(history)
        tracemalloc.start()
        rows = []
        for i in range(1, args.steps + 1):
            token = sampler.sample(engine.distribution(), history)
            history.append(token)
            del history[:-128]
            engine.push(token)
            if i in (1000, args.steps // 10, args.steps // 2, args.steps):
                rows.append({"step": i, "rss_mb": round(rss_mb(), 2),
                             "traced_kb": round(tracemalloc.get_traced_memory()[0] / 1024, 1)})
        tracemalloc.stop()
        results[name] = rows
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, rows in results.items():
        print(name)
        for r in rows:
            print(f"  step {r['step']:7d}: RSS {r['rss_mb']:8.2f} MB, traced Python allocations {r['traced_kb']:8.1f} kB")


if __name__ == "__main__":
    main()
