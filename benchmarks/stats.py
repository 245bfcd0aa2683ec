"""Medians and spread of repeated measurements (the machine is shared and noisy)."""

import statistics


def quantile(values, q):
    v = sorted(values)
    if not v:
        raise ValueError("no samples")
    pos = (len(v) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def summary(values):
    """{'median', 'q1', 'q3', 'min', 'max', 'n', 'spread'}; spread = half the IQR / median."""
    values = [float(x) for x in values]
    med = statistics.median(values)
    q1, q3 = quantile(values, 0.25), quantile(values, 0.75)
    return {
        "median": med, "q1": q1, "q3": q3, "min": min(values), "max": max(values),
        "n": len(values), "spread": (q3 - q1) / 2 / med if med else 0.0,
    }
