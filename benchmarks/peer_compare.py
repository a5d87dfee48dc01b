"""Our bench engine side by side with a peer tool (GuideLLM) on the same fake endpoint.

    .venv/bin/python benchmarks/peer_compare.py [--levels 1,8,32] [--reps 3]

The peer lives in its own venv outside the clone (default ~/.cache/switchboard/peer-bench-venv,
created on the first run: `guidellm==0.8.1` from PyPI, which pulls torch and transformers, about
6 GB and 1.5 minutes; later runs reuse it). GuideLLM sizes its synthetic prompts with a Hugging
Face tokenizer; the Hub is not reachable here, so the script builds a byte-level tokenizer with
no merges (one token per byte of UTF-8, 257 entries) with the `tokenizers` package of that venv
into ~/.cache/switchboard/peer-bench-tokenizer, points GuideLLM's `tokenizer.model` at that folder
and runs it with HF_HUB_OFFLINE=1. That tokenizer only sets the prompts' length (32 bytes); the
output tokens both tools count come from the stream's `usage`.

One fake (tests/benches/fake_stream.py in its own process, TTFT 100 ms, a gap of 20 ms between
64 tokens, as many slots as the largest level) serves both tools. For each repetition and level
the two run one after the other, the order swapped each repetition; each level is `c` warm-up
requests then 3 x `c` measured ones at `c` in flight (GuideLLM: a `requests` warm-up of `c` and
4 x `c` requests; its own window decides which count, shown as n). The table gives the medians
over the repetitions and each figure's error relative to the truth.

Definitions, both tools on the same 64-token streams:
- TTFT p50, ms: from the request being sent (ours: httpx's send_request_body.complete trace
  event; GuideLLM: its send_request_headers.started) to the first chunk with content; median
  over requests.
- ITL p50, ms: ours is the median over every gap between content chunks (vllm's ITL); GuideLLM's
  ITL is per request (last token - first token) / (tokens - 1), i.e. vllm's TPOT, its median
  weighted by tokens. On an exact fake both are the set gap; our TPOT p50 is shown as well.
- output tok/s: ours is output tokens over the level's wall time; GuideLLM's is its "Server
  Throughput, Output Tokens Per Sec, Mean" (status total), a time-weighted rate over its window.
- truth: TTFT and ITL as set; tok/s = c x tokens / (TTFT + (tokens - 1) x ITL), every stream
  busy all the time (an upper bound: each tool spends a little between one request and the next).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.benches.engine import Target, run_level  # noqa: E402
from tests.benches.fake_stream import Behaviour, serving  # noqa: E402

PEER = "guidellm"
PEER_VERSION = "0.8.1"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "switchboard"
PROMPT_BYTES = 32
PROMPT = "Count slowly from one to ninety."  # 32 bytes, as GuideLLM's synthetic prompts
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

# Run with the peer venv's python: a tokenizer of the 256 byte-level symbols and no merges, saved
# as a transformers fast tokenizer that AutoTokenizer.from_pretrained(folder) loads offline.
MAKE_TOKENIZER = """
import sys
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
vocab["<|endoftext|>"] = len(vocab)
tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
end = "<|endoftext|>"
PreTrainedTokenizerFast(
    tokenizer_object=tok, eos_token=end, bos_token=end, unk_token=end
).save_pretrained(sys.argv[1])
"""


@dataclass(frozen=True)
class Figures:
    ttft_p50_ms: float | None
    itl_p50_ms: float | None
    output_tok_s: float
    completed: int
    errors: int
    tpot_p50_ms: float | None = None


# --- pure helpers (tests/benches/test_peer_compare.py) -------------------------------------
def truth_tok_s(concurrency: int, ttft_ms: float, itl_ms: float, tokens: int) -> float:
    """Output tokens/s with every one of `concurrency` streams busy all the time."""
    return concurrency * tokens / ((ttft_ms + (tokens - 1) * itl_ms) / 1000)


def relative_error(measured: float | None, truth: float) -> float | None:
    return None if measured is None else (measured - truth) / truth


def guidellm_scenario(
    *, url: str, concurrency: int, tokenizer: Path, tokens: int, report: Path
) -> dict[str, Any]:
    """A GuideLLM 0.8 scenario file: `concurrency` streams of synthetic chat requests."""
    return {
        "spec": {
            "backend": {
                "kind": "openai_http",
                "target": url,
                "model": "fake",
                "request_format": "/v1/chat/completions",
                "validate_backend": False,  # its health check is a GET the fake answers 404
                "http2": False,
            },
            "profile": {
                "kind": "concurrent",
                "streams": [concurrency],
                "warmup": {"mode": "requests", "value": concurrency},
            },
            "constraints": [{"kind": "max_requests", "count": 4 * concurrency}],
            "tokenizer": {"kind": "huggingface_auto", "model": str(tokenizer)},
            "data": [
                {"kind": "synthetic_text", "prompt_tokens": PROMPT_BYTES, "output_tokens": tokens}
            ],
            "outputs": [{"kind": "json", "path": str(report)}],
        }
    }


def guidellm_figures(report: dict[str, Any]) -> dict[int, Figures]:
    """Each benchmark of a GuideLLM JSON report (format version 2), by its stream count: the
    figures its console prints (TTFT and ITL medians of successful requests; the output tokens/s
    mean over all requests)."""
    out = {}
    for bench in report["benchmarks"]:
        metrics = bench["metrics"]
        out[bench["config"]["strategy"]["streams"]] = Figures(
            ttft_p50_ms=metrics["time_to_first_token_ms"]["successful"]["median"],
            itl_p50_ms=metrics["inter_token_latency_ms"]["successful"]["median"],
            output_tok_s=metrics["output_tokens_per_second"]["total"]["mean"],
            completed=metrics["request_totals"]["successful"],
            errors=metrics["request_totals"]["errored"] + metrics["request_totals"]["incomplete"],
        )
    return out


# --- the peer's environment ----------------------------------------------------------------
def peer_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed_version(venv: Path) -> str | None:
    if not peer_python(venv).exists():
        return None
    result = subprocess.run(
        [
            str(peer_python(venv)),
            "-c",
            f"import importlib.metadata as m; print(m.version({PEER!r}))",
        ],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_peer(venv: Path, tokenizer: Path) -> None:
    if installed_version(venv) != PEER_VERSION:
        print(f"installing {PEER}=={PEER_VERSION} into {venv} (once; ~6 GB with torch)", flush=True)
        if not peer_python(venv).exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(peer_python(venv)), "-m", "pip", "install", "-q", f"{PEER}=={PEER_VERSION}"],
            check=True,
        )
    if not (tokenizer / "tokenizer.json").exists():
        subprocess.run(
            [str(peer_python(venv)), "-c", MAKE_TOKENIZER, str(tokenizer)],
            check=True,
            env=os.environ | OFFLINE,
        )


def run_peer(
    venv: Path, tokenizer: Path, url: str, concurrency: int, tokens: int, workers: int = 0
) -> Figures:
    with tempfile.TemporaryDirectory(prefix="peer-bench-") as tmp:
        work = Path(tmp)
        report = work / "report.json"
        scenario = work / "scenario.json"
        scenario.write_text(
            json.dumps(
                guidellm_scenario(
                    url=url,
                    concurrency=concurrency,
                    tokenizer=tokenizer,
                    tokens=tokens,
                    report=report,
                )
            )
        )
        log = work / "guidellm.log"
        with log.open("w") as out:
            result = subprocess.run(
                [str(venv / "bin" / "guidellm"), "run", "-c", str(scenario), "--disable-progress"],
                cwd=work,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=os.environ
                | OFFLINE
                | ({"GUIDELLM__MAX_WORKER_PROCESSES": str(workers)} if workers else {}),
                timeout=300,
            )
        if result.returncode != 0 or not report.exists():
            tail = log.read_text()[-3000:]
            raise RuntimeError(f"guidellm failed (exit {result.returncode}):\n{tail}")
        return guidellm_figures(json.loads(report.read_text()))[concurrency]


def run_ours(url: str, concurrency: int, tokens: int) -> Figures:
    level = asyncio.run(
        run_level(
            Target("openai", url, "fake"),
            concurrency=concurrency,
            requests=3 * concurrency,
            warmup=concurrency,
            prompt=PROMPT,
            max_tokens=tokens,
            timeout=60,
        )
    )
    return Figures(
        ttft_p50_ms=level.ttft.p50,
        itl_p50_ms=level.itl.p50,
        output_tok_s=level.output_tokens_per_s,
        completed=level.completed,
        errors=level.errors,
        tpot_p50_ms=level.tpot.p50,
    )


# --- the report ----------------------------------------------------------------------------
def median_of(runs: list[Figures], name: str) -> float | None:
    values = [v for r in runs if (v := getattr(r, name)) is not None]
    return statistics.median(values) if values else None


def cell(value: float | None, truth: float, digits: int) -> str:
    err = relative_error(value, truth)
    if value is None or err is None:
        return "-"
    return f"{value:.{digits}f} ({err:+.1%})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--itl-ms", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument(
        "--peer-workers",
        type=int,
        default=0,
        help="GuideLLM's worker processes (GUIDELLM__MAX_WORKER_PROCESSES; its default is 10)",
    )
    parser.add_argument("--venv", type=Path, default=CACHE / "peer-bench-venv")
    parser.add_argument("--tokenizer", type=Path, default=CACHE / "peer-bench-tokenizer")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    started = time.monotonic()
    ensure_peer(args.venv, args.tokenizer)
    behaviour = Behaviour(
        ttft_ms=args.ttft_ms, itl_ms=args.itl_ms, tokens=args.tokens, slots=max(levels)
    )
    print(
        f"fake: TTFT {args.ttft_ms:g} ms, ITL {args.itl_ms:g} ms, {args.tokens} tokens, "
        f"{max(levels)} slots; peer: {PEER} {PEER_VERSION}; {args.reps} repetitions"
    )
    ours: dict[int, list[Figures]] = {c: [] for c in levels}
    peer: dict[int, list[Figures]] = {c: [] for c in levels}
    with serving(behaviour) as server:
        for rep in range(args.reps):
            for c in levels:
                order = ("ours", "peer") if rep % 2 == 0 else ("peer", "ours")
                for who in order:
                    if who == "ours":
                        got = run_ours(server.url, c, args.tokens)
                        ours[c].append(got)
                    else:
                        got = run_peer(
                            args.venv, args.tokenizer, server.url, c, args.tokens, args.peer_workers
                        )
                        peer[c].append(got)
                    print(
                        f"  rep {rep + 1} c={c:<3} {who:<4} TTFT {got.ttft_p50_ms or 0:7.1f} ms  "
                        f"ITL {got.itl_p50_ms or 0:6.2f} ms  {got.output_tok_s:7.1f} tok/s  "
                        f"n={got.completed} err={got.errors}",
                        flush=True,
                    )
    ttft, itl = args.ttft_ms, args.itl_ms
    print()
    print(
        f"medians of {args.reps}; (error relative to the truth); "
        f"ours ITL is per gap, {PEER}'s per request (= TPOT)"
    )
    header = (
        f"{'conc':>4} | {'truth TTFT/ITL/tok/s':>22} | {'ours TTFT p50':>16} {'ITL p50':>15} "
        f"{'TPOT p50':>8} {'tok/s':>16} {'err':>3} | {'peer TTFT p50':>16} {'ITL p50':>15} "
        f"{'tok/s':>16} {'n':>4} {'err':>3}"
    )
    print(header)
    print("-" * len(header))
    for c in levels:
        tok_s = truth_tok_s(c, ttft, itl, args.tokens)
        o, p = ours[c], peer[c]
        print(
            f"{c:>4} | {f'{ttft:g} / {itl:g} / {tok_s:.1f}':>22} | "
            f"{cell(median_of(o, 'ttft_p50_ms'), ttft, 1):>16} "
            f"{cell(median_of(o, 'itl_p50_ms'), itl, 2):>15} "
            f"{median_of(o, 'tpot_p50_ms') or 0:>8.2f} "
            f"{cell(median_of(o, 'output_tok_s'), tok_s, 1):>16} "
            f"{sum(r.errors for r in o):>3} | "
            f"{cell(median_of(p, 'ttft_p50_ms'), ttft, 1):>16} "
            f"{cell(median_of(p, 'itl_p50_ms'), itl, 2):>15} "
            f"{cell(median_of(p, 'output_tok_s'), tok_s, 1):>16} "
            f"{statistics.median(r.completed for r in p):>4g} "
            f"{sum(r.errors for r in p):>3}"
        )
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
