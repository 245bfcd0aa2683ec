"""Merging one cell's outputs of N ranks (`python -m benchmarks.merge`): no processes, synthetic
outputs - identical on every rank (one block) or distinct (a `print(rank)`: one block per rank).
Prints markdown table rows (median of 5); see docs/clusters.md."""

import statistics
import time

from mpikernel.cells.merge import RankOutput, merge_outputs, render_text


def median_ms(n, distinct, repeat=5):
    outs = [RankOutput(rank=r, stdout=f"{r}\n" if distinct else "same\n") for r in range(n)]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        render_text(merge_outputs(outs), "stdout")
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main():
    print("| ranks | identical outputs | distinct outputs |\n| ---: | ---: | ---: |")
    for n in (16, 128, 1000, 4000):
        print(f"| {n:,} | {median_ms(n, False):.2f} ms | {median_ms(n, True):.2f} ms |")


if __name__ == "__main__":
    main()
