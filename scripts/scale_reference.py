"""Expected against measured growth for reference implementations of known complexity.

Each reference function is measured the way the search measures candidates
(``orps.search.scaling.ScaleProfiler``: the generator is checked, the scale is probed until the
function takes about 5 ms or the cap is reached, then it is timed at nine scales in the sandbox)
and its growth, the least-squares slope of log runtime against log scale, is printed beside the
slope its complexity predicts over the same scales (0 for O(1), 1 for O(n), 2 for O(n²); for
O(log n) and O(n log n) the slope of log(log n) resp. log(n log n) over those scales).

    python scripts/scale_reference.py [--repeat 3] [--max-scale 1048576]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orps.project.target import load_target
from orps.search.beam import module_spec
from orps.search.records import Candidate
from orps.search.scaling import ScaleProfiler, growth
from orps_sandbox import Sandbox


@dataclass(frozen=True)
class Reference:
    label: str
    code: str
    generator: str
    model: str  # "1", "log", "n", "nlog", "n2"


REFERENCES = [
    Reference(
        "O(1): last element",
        "def subject(xs):\n    return xs[-1]\n",
        "def perf_input(scale):\n    return (list(range(scale)),)\n",
        "1",
    ),
    Reference(
        "O(log n): binary search",
        "def subject(xs, x):\n"
        "    lo, hi = 0, len(xs)\n"
        "    while lo < hi:\n"
        "        mid = (lo + hi) // 2\n"
        "        if xs[mid] < x:\n"
        "            lo = mid + 1\n"
        "        else:\n"
        "            hi = mid\n"
        "    return lo\n",
        "def perf_input(scale):\n    return (list(range(scale)), scale - 1)\n",
        "log",
    ),
    Reference(
        "O(n): sum in a loop",
        "def subject(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n",
        "def perf_input(scale):\n    return (list(range(scale)),)\n",
        "n",
    ),
    Reference(
        "O(n log n): merge sort",
        "def subject(xs):\n"
        "    if len(xs) <= 1:\n"
        "        return list(xs)\n"
        "    mid = len(xs) // 2\n"
        "    left, right = subject(xs[:mid]), subject(xs[mid:])\n"
        "    out, i, j = [], 0, 0\n"
        "    while i < len(left) and j < len(right):\n"
        "        if left[i] <= right[j]:\n"
        "            out.append(left[i]); i += 1\n"
        "        else:\n"
        "            out.append(right[j]); j += 1\n"
        "    out.extend(left[i:]); out.extend(right[j:])\n"
        "    return out\n",
        "def perf_input(scale):\n    import random\n"
        "    rng = random.Random(scale)\n"
        "    return ([rng.random() for _ in range(scale)],)\n",
        "nlog",
    ),
    Reference(
        "O(n²): count equal pairs",
        # Iterating the list (not range(i)) keeps every int a cached small one: a range past 256
        # would allocate ints in the inner loop only at larger n, and bend the slope.
        "def subject(xs):\n"
        "    count = 0\n"
        "    for a in xs:\n"
        "        for b in xs:\n"
        "            if a == b:\n"
        "                count += 1\n"
        "    return count\n",
        "def perf_input(scale):\n    return ([i % 7 for i in range(scale)],)\n",
        "n2",
    ),
]


def expected_growth(model: str, scales: list[int]) -> float:
    """The slope the complexity predicts over these scales (no constant overhead)."""

    def cost(n: int) -> float:
        return {
            "1": 1.0,
            "log": math.log2(max(n, 2)),
            "n": float(n),
            "nlog": n * math.log2(max(n, 2)),
            "n2": float(n) ** 2,
        }[model]

    xs = [math.log(n) for n in scales]
    ys = [math.log(cost(n)) for n in scales]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


async def measure(
    reference: Reference, sandbox: Sandbox, max_scale: int
) -> tuple[float | None, list[int], str | None]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "subject_module.py"
        path.write_text(reference.code)
        target = load_target(path, "subject")
        profiler = ScaleProfiler(
            target=target,
            sandbox=sandbox,
            module_of=lambda code: module_spec(target, code),
            max_scale=max_scale,
        )
        problem = await profiler.check(reference.generator)
        if problem is not None:
            return None, [], problem
        candidate = Candidate(id="reference", code=reference.code)
        top, note = await profiler.probe(reference.generator, [candidate])
        if top is None:
            return None, [], note
        run = await profiler.measure(reference.generator, top, [candidate])
        points = run.points.get("reference", [])
        return growth(points), [p.scale for p in points], note


async def main_async(repeat: int, max_scale: int) -> None:
    print("| reference | expected growth | measured growth (each run) | scales |")
    print("|---|---|---|---|")
    async with Sandbox() as sandbox:
        for reference in REFERENCES:
            measured: list[str] = []
            scales: list[int] = []
            for _ in range(repeat):
                value, scales_run, note = await measure(reference, sandbox, max_scale)
                measured.append("-" if value is None else f"{value:.2f}")
                scales = scales_run or scales
                if note:
                    measured[-1] += f" ({note})"
            expected = expected_growth(reference.model, scales) if len(scales) > 1 else math.nan
            span = f"{scales[0]:,} … {scales[-1]:,}" if scales else "-"
            print(f"| {reference.label} | {expected:.2f} | {', '.join(measured)} | {span} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="measurements per reference (3)")
    parser.add_argument("--max-scale", type=int, default=1 << 20, help="largest scale (1048576)")
    args = parser.parse_args()
    asyncio.run(main_async(args.repeat, args.max_scale))


if __name__ == "__main__":
    main()
