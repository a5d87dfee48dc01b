"""The bench engine's own accuracy: how many streams one engine process measures faithfully.

    .venv/bin/python benchmarks/bench_engine.py [--levels 16,64,128,256] [--itl-ms 20]

Target (issue 13): the highest concurrency at which the measured ITL p50 stays within 5 % of
the truth. The truth is the loopback fake of tests/benches/fake_stream.py in its own process,
with as many slots as the largest level (no queueing), TTFT 100 ms, a gap of --itl-ms between
--tokens tokens on an absolute schedule. Each level runs `concurrency` warm-up requests, then
2 x `concurrency` measured ones. "wait" is the median time from the engine asking for a request
to httpx writing it (left out of TTFT: the engine's own cost); "send" from then to the fake
holding it (in TTFT: the kernel's and the fake's share, which load on the machine inflates).
"fake late" is the share of tokens the fake itself sent more than 1 ms after their time: where
it is high, the fake (one Python process too) and not the engine bends the gaps. Client CPU is this process's CPU time over the level's wall
time (1.0 = one core busy): near 1.0 the engine, not the server, sets the gaps.

With --runner, the same levels then run through the product's own path, `manage.py bench run`
(the runner: the engine on its own thread while the main thread stores progress, renews the
lease and checks for cancel every 0.5 s, on a fresh SQLite database), to show that path bends
nothing either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.benches.engine import Level, Target, run_level  # noqa: E402
from tests.benches.fake_stream import Behaviour, serving  # noqa: E402


def send_ms(level: Level, arrivals: list[float]) -> float:
    """Median time from the engine starting a request to the fake holding it: the engine's
    own share of TTFT (perf_counter and the fake's monotonic are one clock on Linux)."""
    starts = sorted(level.started + s.started_s for s in level.samples)
    received = sorted(arrivals)[-len(starts) :]
    return statistics.median(
        (got - sent) * 1000 for sent, got in zip(starts, received, strict=True)
    )


def measure(url: str, concurrency: int, tokens: int) -> tuple[Level, float]:
    cpu = time.process_time()
    level = asyncio.run(
        run_level(
            Target("openai", url, "fake"),
            concurrency=concurrency,
            requests=2 * concurrency,
            warmup=concurrency,
            prompt="Count to fifty.",
            max_tokens=tokens,
            timeout=60,
        )
    )
    # the warm-up's CPU counts too; its wall time is about a third of the level's
    return level, (time.process_time() - cpu) / (level.duration_s * 1.5)


def through_runner(url: str, levels: list[int], tokens: int, truth: float) -> None:
    """Each level through `manage.py bench run --json` on a throwaway SQLite database."""
    with tempfile.TemporaryDirectory() as data:
        env = os.environ | {"SWITCHBOARD_DATA_DIR": data, "DATABASE_URL": "", "REDIS_URL": ""}
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
        print("\nthrough the runner (manage.py bench run):")
        print(f"{'conc':>5} {'ok':>5} {'err':>4} {'ttft p50':>9} {'itl p50':>8} {'itl p99':>8} "
              f"{'tok/s':>8}  within")
        for concurrency in levels:
            out = subprocess.run(
                [*manage, "bench", "run", "--url", url, "--model", "fake", "--concurrency",
                 str(concurrency), "--requests", str(2 * concurrency), "--warmup",
                 str(concurrency), "--max-tokens", str(tokens), "--yes", "--json"],
                env=env, check=True, cwd=ROOT, capture_output=True, text=True,
            ).stdout
            row = json.loads(out)["levels"][0]
            itl = row["itl_ms"]["p50"]
            ok = itl is not None and abs(itl - truth) <= truth * 0.05
            print(f"{concurrency:>5} {row['completed']:>5} {row['errors']:>4} "
                  f"{row['ttft_ms']['p50'] or 0:>9.1f} {itl or 0:>8.2f} "
                  f"{row['itl_ms']['p99'] or 0:>8.2f} {row['output_tokens_per_s']:>8.0f}  "
                  f"{'yes' if ok else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="16,64,128,256")
    parser.add_argument("--itl-ms", type=float, default=20.0)
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--runner", action="store_true",
                        help="Also run each level through manage.py bench run.")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    truth = args.itl_ms
    behaviour = Behaviour(ttft_ms=args.ttft_ms, itl_ms=truth, tokens=args.tokens, slots=max(levels))
    print(
        f"fake: TTFT {args.ttft_ms:g} ms, ITL {truth:g} ms, {args.tokens} tokens, "
        f"{max(levels)} slots; bound: ITL p50 within 5 % ({truth * 0.05:.2f} ms)"
    )
    print(
        f"{'conc':>5} {'ok':>5} {'err':>4} {'ttft p50':>9} {'wait p50':>9} {'send p50':>9} "
        f"{'itl mean':>9} {'itl p50':>8} {'itl p90':>8} {'itl p99':>8} {'tok/s':>8} {'cpu':>5} "
        f"{'fake late':>9}  within"
    )
    best = 0
    with serving(behaviour) as server:
        for concurrency in levels:
            before = server.stats()
            level, cpu = measure(server.url, concurrency, args.tokens)
            after = server.stats()
            late = (after["tokens_late"] - before["tokens_late"]) / max(
                1, after["tokens_sent"] - before["tokens_sent"]
            )
            itl, ttft = level.itl, level.ttft
            ok = itl.p50 is not None and abs(itl.p50 - truth) <= truth * 0.05
            if ok and level.errors == 0:
                best = concurrency
            print(
                f"{concurrency:>5} {level.completed:>5} {level.errors:>4} {ttft.p50 or 0:>9.1f} "
                f"{statistics.median(s.wait_ms for s in level.samples):>9.1f} "
                f"{send_ms(level, after['arrivals']):>9.1f} "
                f"{itl.mean or 0:>9.2f} {itl.p50 or 0:>8.2f} {itl.p90 or 0:>8.2f} "
                f"{itl.p99 or 0:>8.2f} {level.output_tokens_per_s:>8.0f} {cpu:>5.2f} "
                f"{late:>9.1%}  "
                f"{'yes' if ok else 'NO'}"
            )
        if args.runner:
            through_runner(server.url, levels, args.tokens, truth)
    print(f"highest concurrency with ITL p50 within 5 % of {truth:g} ms (engine): "
          f"{best or 'none'}")


if __name__ == "__main__":
    main()
