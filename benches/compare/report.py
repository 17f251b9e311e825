"""Turns the comparison's results into a Markdown report, target verdicts and a PNG plot."""

from __future__ import annotations

import statistics
from typing import Any, Dict, List, Optional, Tuple

MIB = 1024 * 1024
MB = 1_000_000

# The headroom the issue allows a 100 MB get over the value itself.
GET_MEMORY_HEADROOM = 64 * MIB


def median_seconds(result: Dict[str, Any]) -> Optional[float]:
    runs = result.get("runs")
    if not runs or not result.get("verified"):
        return None
    return statistics.median(run["seconds"] for run in runs)


def spread(result: Dict[str, Any]) -> str:
    runs = result.get("runs") or []
    if len(runs) < 2:
        return ""
    seconds = [run["seconds"] for run in runs]
    return f" ({number(min(seconds))}–{number(max(seconds))})"


def memory_over_baseline(result: Dict[str, Any]) -> Optional[int]:
    """The largest peak over the memory held just before the operation, across the runs."""
    runs = result.get("runs")
    if not runs:
        return None
    return max(run["peak"] - run["baseline"] for run in runs)


def figure(results: Dict[str, Any], backend: str, client: str, metric: str) -> Optional[float]:
    """One number: seconds for the cases, or bytes for ``*_memory`` metrics; None if absent."""
    entry = results["backends"].get(backend, {}).get(client, {})
    if metric.endswith("_memory"):
        case = entry.get(metric[: -len("_memory")], {})
        return memory_over_baseline(case) if case.get("verified") else None
    if metric.split("_", 1)[0] in ("put", "get") and metric.split("_", 1)[1] in ("random", "text"):
        return median_seconds(entry.get(metric, {}))
    case = entry.get("list" if metric == "list" else "small", {})
    if not case.get("verified"):
        return None
    return case.get(metric)


def number(value: float) -> str:
    """Three significant digits, without a sea of zeros for large numbers."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def cell(results: Dict[str, Any], backend: str, client: str, metric: str, unit: str) -> str:
    entry = results["backends"].get(backend, {}).get(client, {})
    if "skipped" in entry:
        return "n/a"
    value = figure(results, backend, client, metric)
    if value is None:
        case = entry.get(metric.replace("_memory", ""), entry.get("small", {}))
        if metric == "list":
            case = entry.get("list", {})
        if "skipped" in case:
            return "n/a"
        if case.get("note"):
            return f"✗ {case['note']}"
        if "error" in case:
            return "failed"
        return "n/a" if unit != "s" or case.get("verified") else "✗ wrong data"
    if unit == "ms":
        return number(value * 1000)
    if unit == "MiB":
        return f"{value / MIB:,.0f}"
    if unit == "MB/s":
        size = results["sizes"]["value_mb"] * MB
        case = entry.get(metric, {})
        return f"{number(value)}{spread(case)} · {number(size / value / MB)}"
    return number(value)


def rows(results: Dict[str, Any]) -> List[Tuple[str, str, str]]:
    """(label, metric, unit) of every row of the per-backend table."""
    sizes = results["sizes"]
    value = f"{sizes['value_mb']:g} MB"
    batch = f"{sizes['batch']:,} × 1 KB"
    table = []
    for kind, name in (("random", "random bytes"), ("text", "text")):
        for op in ("put", "get"):
            table.append((f"{op} {value} {name}: s median (min–max) · MB/s", f"{op}_{kind}", "MB/s"))
            table.append((f"{op} {value} {name}: peak RSS over baseline, MiB", f"{op}_{kind}_memory", "MiB"))
    table += [
        ("1 KB put p50, ms", "latency_put_p50", "ms"),
        ("1 KB put p90, ms", "latency_put_p90", "ms"),
        ("1 KB get p50, ms", "latency_get_p50", "ms"),
        ("1 KB get p90, ms", "latency_get_p90", "ms"),
        (f"{batch} put one by one, s", "seq_put", "s"),
        (f"{batch} get one by one, s", "seq_get", "s"),
        (f"{batch} put batched, s", "batch_put", "s"),
        (f"{batch} get batched, s", "batch_get", "s"),
        (f"list {sizes['list_keys']:,} keys, s", "list", "s"),
    ]
    return table


def ratio_row(
    results: Dict[str, Any],
    backend: str,
    goal: str,
    left: Tuple[str, str],
    right: Tuple[str, str],
    limit: float,
    higher_is_better: bool = False,
) -> Optional[List[str]]:
    """A target as a same-run ratio of two figures: ``left / right`` against ``limit``."""
    a = figure(results, backend, *left)
    b = figure(results, backend, *right)
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    ratio = a / b
    met = ratio >= limit if higher_is_better else ratio <= limit
    if met:
        verdict = "met"
    elif higher_is_better:
        verdict = f"missed: {ratio:.2f}× instead of ≥ {limit:g}×"
    else:
        verdict = f"missed by {(ratio / limit - 1) * 100:.0f}%"
    sign = "≥" if higher_is_better else "≤"
    return [goal, f"{left[0]} {left[1]} / {right[0]} {right[1]}", f"{ratio:.2f}", f"{sign} {limit:g}", verdict]


def target_rows(results: Dict[str, Any], backend: str) -> List[List[str]]:
    """Every target of the issues that this backend's figures can judge."""
    found: List[Optional[List[str]]] = []
    for metric, what in (
        ("latency_get_p50", "1 KB get p50"),
        ("latency_put_p50", "1 KB put p50"),
        ("batch_put", "batched put"),
        ("batch_get", "batched get"),
        ("list", "listing"),
    ):
        found.append(
            ratio_row(results, backend, f"{what} within 1.2× obstore",
                      ("s3kv", metric), ("obstore", metric), 1.2)
        )
    for metric in ("put_random", "get_random", "put_text", "get_text"):
        found.append(
            ratio_row(results, backend, f"{metric.replace('_', ' ')} no slower than boto3",
                      ("s3kv", metric), ("boto3", metric), 1.0)
        )
    found.append(
        ratio_row(results, backend, "incompressible put ≥ 10× faster than the original",
                  ("legacy", "put_random"), ("s3kv", "put_random"), 10, higher_is_better=True)
    )
    for op in ("put", "get"):
        found.append(
            ratio_row(results, backend, f"batched {op} ≥ 20× faster than the original's loop",
                      ("legacy", f"seq_{op}"), ("s3kv", f"batch_{op}"), 20, higher_is_better=True)
        )
    for metric in (
        "put_random", "get_random", "put_text", "get_text", "latency_put_p50",
        "latency_get_p50", "seq_put", "seq_get", "batch_put", "batch_get",
    ):
        found.append(
            ratio_row(results, backend, f"{metric.replace('_', ' ')} faster than the encrypting peer",
                      ("s3kv", metric), ("s3ec", metric), 1.0)
        )
    found.append(
        ratio_row(results, backend, "listing against boto3's paginator (no target)",
                  ("s3kv", "list"), ("boto3", "list"), float("inf"))
    )
    table = [row for row in found if row is not None]
    for row in table:
        if row[0].endswith("(no target)"):
            row[3], row[4] = "", "for reference"
    table += memory_rows(results, backend)
    return table


def memory_rows(results: Dict[str, Any], backend: str) -> List[List[str]]:
    value = results["sizes"]["value_mb"] * MB
    table = []
    for kind in ("random", "text"):
        over = figure(results, backend, "s3kv", f"get_{kind}_memory")
        if over is None:
            continue
        limit = value + GET_MEMORY_HEADROOM
        verdict = "met" if over <= limit else f"missed by {(over - limit) / MIB:,.0f} MiB"
        table.append([
            f"peak RSS of a get of {kind} ≤ value + 64 MiB",
            f"s3kv peak over baseline: {over / MIB:,.0f} MiB",
            f"{over / value:.2f}× value",
            f"≤ {limit / MIB:,.0f} MiB",
            verdict,
        ])
    return table


def markdown_table(header: List[str], body: List[List[str]], right_from: int = 1) -> str:
    align = ["---"] * right_from + ["---:"] * (len(header) - right_from)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def markdown(results: Dict[str, Any]) -> str:
    """The report: per backend, a table of figures by client, then the targets as ratios."""
    names = list(results["clients"])
    parts = [
        f"Run `{results['run']}` started {results['started_utc']} UTC, took "
        f"{results['seconds'] / 60:.1f} min; load average at start "
        f"{results['machine']['load_average_at_start'][0]:.2f}, at end "
        f"{results['load_average_at_end'][0]:.2f}.",
        "",
        "Clients: " + "; ".join(f"`{name}`: {text}" for name, text in results["clients"].items()) + ".",
    ]
    for backend, entries in results["backends"].items():
        parts.append("")
        if "skipped" in entries:
            parts.append(f"### {backend}: not run ({entries['skipped']})")
            continue
        parts.append(f"### {backend}")
        parts.append("")
        skipped = [f"`{name}`: {entries[name]['skipped']}" for name in names if "skipped" in entries.get(name, {})]
        if skipped:
            parts.append("Not run: " + "; ".join(skipped) + ".")
            parts.append("")
        body = [[label] + [cell(results, backend, name, metric, unit) for name in names]
                for label, metric, unit in rows(results)]
        parts.append(markdown_table(["case"] + [f"`{name}`" for name in names], body))
        targets = target_rows(results, backend)
        if targets:
            parts.append("")
            parts.append(f"Targets on {backend}, as ratios of this run's figures (medians):")
            parts.append("")
            parts.append(markdown_table(["target", "ratio of", "ratio", "target", "verdict"], targets, 2))
    return "\n".join(parts) + "\n"


def failures(results: Dict[str, Any]) -> List[str]:
    """Jobs that failed or read back wrong data; a listing cut short by design is not one."""
    found = []
    for backend, entries in results["backends"].items():
        for client, cases in entries.items():
            if not isinstance(cases, dict) or "skipped" in cases:
                continue
            for case, result in cases.items():
                if "skipped" in result or result.get("limited"):
                    continue
                if "error" in result:
                    found.append(f"{backend} {client} {case}: {result['error']}")
                elif not result.get("verified"):
                    found.append(f"{backend} {client} {case}: data read back differs")
    return found


COLOURS = {
    "s3kv": "#d62728",
    "legacy": "#7f7f7f",
    "boto3": "#1f77b4",
    "obstore": "#2ca02c",
    "s3ec": "#9467bd",
}


def plot(results: Dict[str, Any], path: str) -> bool:
    """Five panels of grouped bars, one bar per client; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False

    backends = [name for name, entries in results["backends"].items() if "skipped" not in entries]
    names = list(results["clients"])
    sizes = results["sizes"]
    value = sizes["value_mb"] * MB
    megabytes = f"{sizes['value_mb']:g} MB"

    def throughput(backend: str, client: str, metric: str) -> Optional[float]:
        seconds = figure(results, backend, client, metric)
        return value / seconds / MB if seconds else None

    def seconds(backend: str, client: str, metric: str) -> Optional[float]:
        return figure(results, backend, client, metric)

    def milliseconds(backend: str, client: str, metric: str) -> Optional[float]:
        seconds = figure(results, backend, client, metric)
        return seconds * 1000 if seconds is not None else None

    def mebibytes(backend: str, client: str, metric: str) -> Optional[float]:
        memory = figure(results, backend, client, metric)
        return memory / MIB if memory is not None else None

    panels = [
        (f"{megabytes} values: MB/s (higher is better)", throughput,
         [(f"{op} {kind[:4]}", f"{op}_{kind}") for kind in ("random", "text") for op in ("put", "get")], True),
        ("1 KB: p50 latency, ms (lower is better)", milliseconds,
         [("put", "latency_put_p50"), ("get", "latency_get_p50")], True),
        (f"{sizes['batch']:,} × 1 KB: seconds (lower is better)", seconds,
         [("put 1by1", "seq_put"), ("get 1by1", "seq_get"), ("put batch", "batch_put"), ("get batch", "batch_get")], True),
        (f"list {sizes['list_keys']:,} keys: seconds (lower is better)", seconds, [("list", "list")], True),
        (f"{megabytes} get: peak RSS over baseline, MiB", mebibytes,
         [("random", "get_random_memory"), ("text", "get_text_memory")], False),
    ]

    figure_, axes = plt.subplots(3, 2, figsize=(15, 14))
    for axis, (title, read, groups, logarithmic) in zip(axes.flat, panels):
        labels = [f"{backend}\n{label}" for backend in backends for label, _ in groups]
        width = 0.8 / max(len(names), 1)
        for index, name in enumerate(names):
            heights, positions = [], []
            for position, (backend, (_, metric)) in enumerate(
                (backend, group) for backend in backends for group in groups
            ):
                number = read(backend, name, metric)
                if number is not None and number > 0:
                    heights.append(number)
                    positions.append(position + (index - (len(names) - 1) / 2) * width)
            axis.bar(positions, heights, width, label=name, color=COLOURS.get(name))
        axis.set_xticks(range(len(labels)))
        axis.set_xticklabels(labels, fontsize=9)
        axis.set_title(title, fontsize=11)
        if logarithmic:
            axis.set_yscale("log")
        axis.grid(axis="y", alpha=0.3)
        if title.startswith(megabytes + " get"):
            for level, text, style in ((value / MIB + 64, "target: value + 64 MiB", "--"),
                                       (value / MIB, "the value itself", ":")):
                axis.axhline(level, color="black", linestyle=style, linewidth=1)
                axis.text(-0.4, level, " " + text, va="bottom", fontsize=8)

    legend_axis = axes.flat[-1]
    legend_axis.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    legend_axis.legend(
        handles, [f"{name}: {results['clients'][name]}" for name in labels],
        loc="upper left", fontsize=10, frameon=False,
    )
    legend_axis.text(
        0.0, 0.35,
        f"run {results['started_utc']} UTC, {results['machine']['cores']} cores, "
        f"{results['in_flight']} requests in flight for batches\n"
        "bars missing: not applicable, not installed, or data read back wrong",
        fontsize=9, va="top",
    )
    figure_.suptitle("s3kv side by side (one run, same machine)", fontsize=14)
    figure_.tight_layout()
    figure_.savefig(path, dpi=80)
    plt.close(figure_)
    return True
