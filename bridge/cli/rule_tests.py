"""`bridge test CASES`: rule unit tests, reported like a test runner's (promtool test rules).

One line per case, then each failure with its diff, then `N passed, M failed in 0.02s`; exit 0
when all pass, 1 when a case fails, 2 when the cases file or the config is broken.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from bridge.cli.rule_test_cases import Cases, read_cases

if TYPE_CHECKING:
    from bridge.cli.rule_test_run import CaseResult

DESCRIPTION = """\
Run the cases in CASES against a rules file: for each case, parse its payload as its webhook
would and check which rules match, which do not, which actions run and what inputs they render.
Nothing is stored or sent. The format is in docs/configuration.md ("bridge test").

example (rules.test.yaml):
  version: 1
  config: rules.yaml                 # relative to this file; --config overrides
  tests:
    - name: a published article is announced
      payload_file: payloads/article_published.json
      match: [announce-articles]
      not_match: [ignore-drafts]
      actions: [content-team]
      inputs:
        - action: content-team
          partial: {text: "Published *Hello* (en-US)"}"""

EPILOG = """\
exit codes: 0 every case passed, 1 a case failed, 2 the cases file or the config is broken
(every problem printed as file:line:col: path: message), or a bad command line.
CI: bridge check rules.yaml && bridge test rules.test.yaml"""

STYLES = {"PASS": "bold green", "FAIL": "bold red", "-": "red", "+": "green"}


def register(subparsers: Any) -> None:
    test = subparsers.add_parser(
        "test",
        help="run rule unit tests: payloads and the rules, actions and inputs they should give",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    test.add_argument("cases", metavar="CASES", help="the cases file, e.g. rules.test.yaml")
    test.add_argument(
        "--config", metavar="FILE", help="the rules file (default: the cases file's config:)"
    )
    test.add_argument("--json", action="store_true", help="print a JSON report instead of text")
    test.set_defaults(func=run_tests)


def run_tests(args: argparse.Namespace) -> int:
    # The engine is imported when a command runs (as for `explain`): `bridge --help` stays quick.
    from bridge.cli.rule_test_run import run_case
    from bridge.rules import RuleEngine

    started = time.perf_counter()
    cases = read_cases(args.cases, args.config)
    engine = RuleEngine(cases.config)
    results = [run_case(engine, case) for case in cases.cases]
    elapsed_s = time.perf_counter() - started
    if args.json:
        print(json.dumps(_as_json(cases, results, elapsed_s), indent=2, ensure_ascii=False))
    else:
        _print_text(cases, results, elapsed_s)
    return 0 if all(result.passed for result in results) else 1


def _as_json(cases: Cases, results: list[CaseResult], elapsed_s: float) -> dict[str, Any]:
    return {
        "file": cases.file,
        "config": cases.config_file,
        "passed": sum(result.passed for result in results),
        "failed": sum(not result.passed for result in results),
        "duration_s": round(elapsed_s, 3),
        "cases": [
            {
                "name": result.case.name,
                "line": result.case.line,
                "status": "passed" if result.passed else "failed",
                "failures": [failure.to_json() for failure in result.failures],
            }
            for result in results
        ],
    }


def _print_text(cases: Cases, results: list[CaseResult], elapsed_s: float) -> None:
    """Coloured only on a terminal without NO_COLOR (rich decides, as for `bridge explain`)."""
    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    for result in results:
        status = "PASS" if result.passed else "FAIL"
        console.print(Text.assemble((status, STYLES[status]), f" {result.case.name}"))
    for result in results:
        if not result.passed:
            console.print()
            where = f"{result.case.name} ({cases.file}:{result.case.line}):"
            console.print(Text(where, style="bold"))
            for failure in result.failures:
                console.print(Text(f"  {failure.expectation}: {failure.message}"))
                for line in failure.detail:
                    console.print(Text(f"    {line}", style=STYLES.get(line[:1], "")))
    passed = sum(result.passed for result in results)
    console.print()
    console.print(Text(f"{passed} passed, {len(results) - passed} failed in {elapsed_s:.2f}s"))
