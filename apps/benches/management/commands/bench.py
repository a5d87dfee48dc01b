"""`manage.py bench run`: run one suite in the foreground and print its result, for scripts
and CI. The run is stored like any other (it shows on the pages, and can be a baseline).

    manage.py bench run --url http://gpu1:8000 --model M --concurrency 1,4,8 --requests 16 \\
        --max-tokens 50 [--api-key K] [--baseline RUN_ID] [--fail-on-regression] --json
    manage.py bench run --suite ID [--json]

Exit status: 0 done; 1 a regression against the baseline (with --fail-on-regression);
2 the run could not start or failed; 130 interrupted (the finished levels are kept).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

EXIT_REGRESSION = 1
EXIT_FAILED = 2
EXIT_INTERRUPTED = 130


def _numbers(kind: type) -> Any:
    def parse(text: str) -> list:
        from apps.benches.services import parse_levels

        try:
            return parse_levels(text, kind=kind)
        except ValidationError as exc:
            raise ValueError(exc.messages[0]) from None

    return parse


class Command(BaseCommand):
    help = "Benchmark a model endpoint (TTFT, ITL, TPOT, tokens/s against concurrency)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="Run one suite in the foreground and print the result.")
        run.add_argument("--suite", type=int, help="A stored suite's id (its settings are used).")
        run.add_argument("--url", help="The endpoint's base URL, e.g. http://127.0.0.1:8000.")
        run.add_argument("--kind", choices=("openai", "anthropic"), default="openai")
        run.add_argument("--model", help="Model name (default: the endpoint's default model).")
        run.add_argument("--api-key", default="", help="Stored encrypted with the endpoint.")
        run.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
        run.add_argument("--project", default="", help="Project slug (default: the only one).")
        run.add_argument("--concurrency", type=_numbers(int), help="e.g. 1,4,8")
        run.add_argument("--rate", type=_numbers(float),
                         help="Request rates per second instead of concurrency, e.g. 0.5,1,2")
        run.add_argument("--arrival", choices=("constant", "poisson"), default="constant")
        run.add_argument("--requests", type=int, default=16, help="Requests per level.")
        run.add_argument("--warmup", type=int, default=0, help="Unmeasured requests per level.")
        run.add_argument("--max-tokens", type=int, default=128)
        run.add_argument("--prompt-tokens", type=int, default=128)
        run.add_argument("--prompt-set", choices=("fixed", "builtin"), default="fixed")
        run.add_argument("--timeout", type=float, default=60.0, help="Seconds per request.")
        run.add_argument("--slo-ttft-ms", type=float)
        run.add_argument("--slo-tpot-ms", type=float)
        run.add_argument("--baseline", type=int, help="Compare with this run.")
        run.add_argument("--threshold", type=float, default=10.0,
                         help="Percent worse than the baseline that counts as a regression.")
        run.add_argument("--fail-on-regression", action="store_true")
        run.add_argument("--yes", action="store_true",
                         help="Run even when the endpoint serves foreign traffic.")
        run.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "run":
            sys.exit(self._run(options))

    # --- run --------------------------------------------------------------------------------
    def _run(self, o: dict[str, Any]) -> int:
        from apps.benches.models import Run, RunState, Trigger
        from apps.benches.runner import run_execute
        from apps.benches.selectors import run_result
        from apps.benches.services import (
            EndpointBusy,
            ForeignTraffic,
            config_from,
            run_create,
            suite_config,
        )

        baseline = None
        if o["baseline"]:
            baseline = Run.objects.filter(pk=o["baseline"], state=RunState.FINISHED).first()
            if baseline is None:
                raise CommandError(f"No finished run {o['baseline']} to compare with.")
        suite = None
        if o["suite"]:
            from apps.benches.models import Suite

            suite = Suite.objects.select_related("endpoint", "baseline").filter(
                pk=o["suite"]).first()
            if suite is None:
                raise CommandError(f"No suite {o['suite']}.")
            endpoint, model, config = suite.endpoint, suite.effective_model, suite_config(suite)
            baseline = baseline or suite.baseline
        else:
            if not o["url"]:
                raise CommandError("Give --url (or --suite).")
            endpoint = self._endpoint(o)
            model = o["model"] or endpoint.default_model
            if not model:
                raise CommandError("Give --model: the endpoint has no default model.")
            if o["concurrency"] and o["rate"]:
                raise CommandError("Give --concurrency or --rate, not both.")
            try:
                config = config_from(
                    model=model, mode="rate" if o["rate"] else "concurrency",
                    concurrency_levels=o["concurrency"] or [1],
                    request_rates=o["rate"] or [], arrival=o["arrival"],
                    prompt_set=o["prompt_set"], prompt_tokens=o["prompt_tokens"],
                    max_tokens=o["max_tokens"], requests_per_level=o["requests"],
                    warmup_requests=o["warmup"], timeout_s=o["timeout"],
                    slo_ttft_ms=o["slo_ttft_ms"], slo_tpot_ms=o["slo_tpot_ms"],
                    regression_threshold_pct=o["threshold"],
                )
            except ValidationError as exc:
                raise CommandError("; ".join(
                    f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        try:
            run = run_create(endpoint=endpoint, model=model, config=config, suite=suite,
                             trigger=Trigger.COMMAND, baseline=baseline,
                             confirm_foreign=o["yes"], enqueue=False)
        except ForeignTraffic as exc:
            self.stderr.write(f"{exc} Run again with --yes to measure anyway (the result is "
                              "marked polluted).")
            return EXIT_FAILED
        except EndpointBusy as exc:
            self.stderr.write(str(exc))
            return EXIT_FAILED
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        stop = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
        quiet = o["json"]
        try:
            self._say(quiet, f"Run {run.pk}: {model} on {endpoint.base_url}")
            run = run_execute(
                run_id=run.pk, stop=stop,
                on_level=lambda level: self._say(quiet, self._level_line(level)),
            ) or run
        finally:
            signal.signal(signal.SIGINT, previous)
        run.refresh_from_db()
        result = run_result(run)
        if o["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self._print_table(result)
        if run.state == RunState.FAILED:
            self.stderr.write(f"Run {run.pk} failed: {run.error}")
            return EXIT_FAILED
        if run.state == RunState.CANCELLED:
            return EXIT_INTERRUPTED
        if result["regressions"] and o["fail_on_regression"]:
            return EXIT_REGRESSION
        return 0

    def _say(self, quiet: bool, line: str) -> None:
        (self.stderr if quiet else self.stdout).write(line)

    @staticmethod
    def _level_line(level: Any) -> str:
        f = level.figures
        load = f"rate {level.rate:g}/s" if level.rate is not None else f"c={level.concurrency}"

        def ms(name: str) -> str:
            value = f[name]["p50"]
            return "-" if value is None else f"{value:.1f}"

        return (f"  {load}: {level.completed}/{level.requests} ok, {level.errors} errors, "
                f"TTFT p50 {ms('ttft_ms')} ms, ITL p50 {ms('itl_ms')} ms, "
                f"{f['output_tokens_per_s']:.1f} tok/s")

    def _print_table(self, result: dict[str, Any]) -> None:
        head = ("load", "ok", "err", "TTFT p50", "TTFT p99", "ITL p50", "TPOT p50", "E2E p50",
                "tok/s", "req/s")
        self.stdout.write("  ".join(f"{h:>9}" for h in head))

        def ms(row: dict[str, Any], name: str, q: str = "p50") -> str:
            value = row[name][q]
            return "-" if value is None else f"{value:.1f}"

        for row in result["levels"]:
            load = f"{row['rate']:g}/s" if row.get("rate") is not None else f"c={row['concurrency']}"
            cells = (load, row["completed"], row["errors"], ms(row, "ttft_ms"),
                     ms(row, "ttft_ms", "p99"), ms(row, "itl_ms"), ms(row, "tpot_ms"),
                     ms(row, "e2e_ms"), f"{row['output_tokens_per_s']:.1f}",
                     f"{row['requests_per_s']:.2f}")
            self.stdout.write("  ".join(f"{c!s:>9}" for c in cells))
        for r in result["regressions"]:
            load = f"rate {r['rate']:g}" if "rate" in r else f"c={r['concurrency']}"
            self.stdout.write(f"REGRESSION {r['metric']} at {load}: {r['baseline']} -> "
                              f"{r['value']} ({r['change_pct']:+.1f} %)")

    # --- the endpoint -----------------------------------------------------------------------
    def _endpoint(self, o: dict[str, Any]) -> Any:
        """The project's endpoint at this URL, or a new one; the key and headers given are
        stored with it (through the same services as the pages)."""
        from apps.benches.endpoints import base_url_normalise, endpoint_create, endpoint_update
        from apps.benches.models import Endpoint

        try:
            url = base_url_normalise(o["url"])
        except ValidationError as exc:
            raise CommandError(f"--url: {' '.join(exc.messages)}") from None
        project = self._project(o["project"])
        headers = {}
        for header in o["header"]:
            name, sep, value = header.partition(":")
            if not sep or not name.strip():
                raise CommandError(f"--header must be NAME:VALUE, not {header!r}.")
            headers[name.strip()] = value.strip()
        endpoint = Endpoint.objects.filter(project=project, base_url=url).first()
        try:
            if endpoint is None:
                host = urlsplit(url).netloc
                taken = set(Endpoint.objects.filter(project=project, name__startswith=host)
                            .values_list("name", flat=True))
                name, n = host, 2
                while name in taken:
                    name, n = f"{host} ({n})", n + 1
                return endpoint_create(project=project, name=name, base_url=url, kind=o["kind"],
                                       api_key=o["api_key"], default_model=o["model"] or "",
                                       headers=headers)
            changes: dict[str, Any] = {"kind": o["kind"]}
            if headers:
                changes["headers"] = headers
            if o["model"] and not endpoint.default_model:
                changes["default_model"] = o["model"]
            return endpoint_update(endpoint=endpoint, changes=changes, api_key=o["api_key"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None

    def _project(self, slug: str) -> Any:
        from apps.projects.models import Project

        active = Project.objects.active()
        if slug:
            project = active.filter(slug=slug).first()
            if project is None:
                raise CommandError(f"No active project {slug!r}.")
            return project
        projects = list(active[:2])
        if len(projects) == 1:
            return projects[0]
        if projects:
            slugs = ", ".join(active.values_list("slug", flat=True))
            raise CommandError(f"Several projects: give --project (one of {slugs}).")
        project, _ = Project.objects.get_or_create(slug="benchmarks",
                                                   defaults={"name": "Benchmarks"})
        self.stderr.write("No project yet: the run goes to a new project, Benchmarks.")
        return project
