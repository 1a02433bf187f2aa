"""`make bench`: run every benchmark and write bench/results.md (the table the README shows).

    python bench/run_all.py [--quick] [--only polling,upload] [--profile] [--output FILE]

Each benchmark is also runnable alone (`python bench/<name>.py`). Benchmarks print figures and
assert nothing about time: the machine is shared and noisy, so they report medians of several
runs and ratios measured side by side in the same run. A benchmark that breaks is reported as
such and the others still run.
"""

import argparse
import sys
import time
import traceback
from pathlib import Path

import events
import first_answer
import harness
import invoke
import pipeline
import polling
import real_build
import rollback
import runtime_deploy
import runtime_host
import scale
import upload

BENCHMARKS = [
    polling, upload, pipeline, scale, real_build, runtime_host, runtime_deploy, invoke, rollback,
    events, first_answer,
]  # fmt: skip
RESULTS = Path(__file__).resolve().parent / "results.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    parser.add_argument("--profile", action="store_true", help="add py-spy summaries")
    parser.add_argument(
        "--only", help="comma-separated names: " + ", ".join(b.NAME for b in BENCHMARKS)
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    chosen = BENCHMARKS
    if args.only:
        names = {name.strip() for name in args.only.split(",")}
        unknown = names - {b.NAME for b in BENCHMARKS}
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        chosen = [b for b in BENCHMARKS if b.NAME in names]

    started = time.monotonic()
    sections: list[harness.Section] = []
    for bench in chosen:
        harness.log(f"running {bench.NAME}")
        began = time.monotonic()
        try:
            section = bench.run(quick=args.quick, profile=args.profile)
        except Exception as exc:
            section = harness.Section(bench.NAME, bench.TITLE)
            section.add("error", f"`{type(exc).__name__}: {str(exc)[:200]}`", "", False)
            traceback.print_exc()
        section.seconds = time.monotonic() - began
        harness.print_section(section)
        sections.append(section)
    total = time.monotonic() - started

    args.output.write_text(render(sections, total=total, quick=args.quick))
    harness.log(f"wrote {args.output} ({total / 60:.1f} min)")
    return 0


def render(sections: list[harness.Section], *, total: float, quick: bool) -> str:
    machine = harness.machine() | {"backend under test": harness.backend_revision()}
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`bench/run_all.py`"
        + (" --quick" if quick else "")
        + f"), {total / 60:.1f} min in all. Figures are medians of several runs; ratios are "
        "measured side by side in the same run. Shared, noisy machine: expect ±20 % between "
        "runs. How each figure is made: the docstring of `bench/<name>.py`.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in machine.items()],
        "",
        "## Targets at a glance",
        "",
        "| benchmark | figure | value | target | met? |",
        "|---|---|---|---|---|",
    ]
    for section in sections:
        for row in section.rows:
            if row.met is not None:
                met = "yes" if row.met else "**no**"
                lines.append(
                    f"| {section.name} | {row.figure} | {row.value} | {row.target} | {met} |"
                )
    lines += ["", "## Details", ""]
    for section in sections:
        lines.append(section.markdown())
        lines.append(f"_{section.name}: {section.seconds:.0f} s_")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
