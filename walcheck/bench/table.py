"""The Markdown table ``walcheck bench`` prints from a result of ``run_bench``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from walcheck.bench.measure import KIB, MIB, RATIO_TARGET

# -- rendering -------------------------------------------------------------------


def _size(byte_count: int) -> str:
    if byte_count >= MIB and byte_count % MIB == 0:
        return f"{byte_count // MIB} MiB"
    if byte_count >= KIB and byte_count % KIB == 0:
        return f"{byte_count // KIB} KiB"
    return f"{byte_count} B"


def _best_median(figures: Mapping[str, Any], digits: int = 0) -> str:
    return f"{figures['best']:,.{digits}f} ({figures['median']:,.{digits}f})"


def _duration(seconds: float) -> str:
    # Three significant figures whatever the scale: floors run from microseconds to tenths of a second.
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _best_median_duration(figures: Mapping[str, Any]) -> str:
    return f"{_duration(figures['best'])} ({_duration(figures['median'])})"


def render_table(result: Mapping[str, Any]) -> str:
    """Markdown tables of a ``run_bench`` result, for the README."""
    info = result["machine"]
    load = result.get("load_average_at_start")
    load_note = f", load average {load[0]:.2f} at start" if load else ""
    lines = [
        f"{info['cpu']}, {info['cores']} cores, {info['platform']}, Python {info['python']}, "
        f"blake3 {info['blake3']}, {info['date']}{load_note}. "
        f"{'Quick run. ' if result['quick'] else ''}Best of {result['repeats']} runs, median in parentheses.",
        "",
        "| appends | payload | storage | count | appends/s | payload MB/s |",
        "|---|---|---|---:|---:|---:|",
    ]
    for entry in result["appends"]:
        lines.append(
            f"| {entry['mode']} | {_size(entry['payload_bytes'])} "
            # The files lived in a temporary directory under this one.
            f"| {entry['storage']} ({entry['filesystem']}, {Path(entry['directory']).parent}) "
            f"| {entry['appends']:,} | {_best_median(entry['appends_per_second'])} "
            f"| {_best_median(entry['payload_mb_per_second'], 1)} |"
        )
    rust = result["rust_context"]
    lines += [
        "",
        f"memvid's Rust (the issue): {rust['skip_sync_appends']:,} appends of 1 KiB with skip_sync in "
        f"{rust['skip_sync_seconds']} s (about {rust['skip_sync_appends_per_second']:,}/s); opened "
        f"{_size(rust['open_region_bytes'])} of {rust['open_records']:,} 1 KiB records in "
        f"{rust['open_seconds_low']}-{rust['open_seconds_high']} s.",
        "",
        "Recovery: `read_header` + `EmbeddedWal.open_read_only` of a region full of 1 KiB records, page "
        "cache warm. Floor (a): blake3 of the whole region in one call. Floor (b): blake3 of each "
        f"record's payload, nothing else. Ratios of best times; the target: open <= {RATIO_TARGET:g} x (b).",
        "",
        "| region | records | open | open MB/s | records/s | scan_region | floor (a) | floor (b) "
        "| open / (a) | open / (b) | scan / (b) | within target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for entry in result["recovery"]:
        ratios = entry["ratios"]
        lines.append(
            f"| {_size(entry['region_bytes'])} | {entry['records']:,} "
            f"| {_best_median_duration(entry['open_seconds'])} | {entry['open_mb_per_second']:,.0f} "
            f"| {entry['open_records_per_second']:,.0f} "
            f"| {_best_median_duration(entry['scan_region_seconds'])} "
            f"| {_best_median_duration(entry['floor_whole_region_hash_seconds'])} "
            f"| {_best_median_duration(entry['floor_per_record_hash_seconds'])} "
            f"| {ratios['open_over_whole_region_hash']:.1f} | {ratios['open_over_per_record_hash']:.2f} "
            f"| {ratios['scan_over_per_record_hash']:.2f} | {'yes' if entry['within_target'] else 'no'} |"
        )
    lines += [
        "",
        "| suite (FIXED) | examples | steps/s | crash images/s |",
        "|---|---:|---:|---:|",
    ]
    for entry in result["suite"]["machines"]:
        images = entry["crash_images_per_second"]
        lines.append(
            f"| {entry['machine']} | {entry['max_examples']} | {_best_median(entry['steps_per_second'])} "
            f"| {_best_median(images) if images else '-'} |"
        )
    exhaustive = result["suite"]["exhaustive"]
    if exhaustive is not None:
        lines.append(
            f"| `run_exhaustive` ({exhaustive['images']:,} images) | - | - "
            f"| {_best_median(exhaustive['images_per_second'])} |"
        )
    return "\n".join(lines) + "\n"
