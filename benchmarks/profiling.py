"""What share of a piece of work the convolutions take, by torch.profiler's self CPU times:
the benchmarks print it, so that "the time is in the convolutions" is measured, not said."""

from __future__ import annotations

from collections.abc import Callable

from torch.profiler import ProfilerActivity, profile

# oneDNN convolutions forward (plain and fused with an activation) and backward
CONVOLUTION_OPS = ("convolution", "conv2d")


def convolution_share(work: Callable[[], object]) -> float:
    """Fraction of `work`'s self CPU time spent in convolution operators (one run, profiled)."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        work()
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    convolutions = sum(
        event.self_cpu_time_total
        for event in events
        if any(op in event.key.lower() for op in CONVOLUTION_OPS)
    )
    return convolutions / total
