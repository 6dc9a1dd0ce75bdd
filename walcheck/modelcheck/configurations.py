"""Where an exploration starts: the named starting configurations, chosen to
reach each catalogued defect of ORIGINAL within a small depth. Every path
appends walcheck.trace.payload(sequence, size): deterministic, so that two
paths appending the same records reach the same bytes (and the same state)."""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------
# Configurations: where the exploration starts
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Configuration:
    """A starting point: memvid creates a file with a region of ``region_size``
    bytes whose header says ``start_sequence``, and opens it. ``expects`` are
    the catalogued defects of ORIGINAL this configuration is built to reach
    within ``depth`` (the check of the exit code); FIXED must break nothing."""

    name: str
    region_size: int
    payload_sizes: tuple[int, ...]
    start_sequence: int = 0
    # Growth doubles the region (memvid's grown_size) while it stays within this.
    max_region: int | None = None
    depth: int = 6
    expects: frozenset[str] = frozenset()
    purpose: str = ""
    # The caller layer of spec/semantics.md S9: memvid's commit() is the staged
    # one, memvid's open recovers, growth and the doctor crash inside. Without
    # it "commit" is the in-place order (S3.6), which memvid follows in its
    # recovery at open and commit_skip_indexes.
    caller_layer: bool = False

    @property
    def growth_limit(self) -> int:
        return self.region_size if self.max_region is None else self.max_region

    def describe(self) -> str:
        sizes = ", ".join(str(size) for size in self.payload_sizes)
        growth = f", grows to {self.growth_limit}" if self.growth_limit > self.region_size else ""
        start = f", sequence starts at {self.start_sequence}" if self.start_sequence else ""
        return f"region {self.region_size}{growth}, payloads of {sizes} bytes{start}"


# Entry sizes are 48 + payload. The boundary cases: a region below one entry
# header (D3); entries that fill a region exactly, and ones that leave fewer
# than 48 bytes (D1); the empty payload (D4); a sequence one below the last
# (D2); 64-byte entries in a region of 64k + 63 bytes, which wraps without
# ever leaving fewer than 48 bytes, so that only crashes can break it (C2,
# C3); an entry across the boundary of two 512-byte sectors (C1).
# A table, its rows alike in shape on purpose: one row a configuration, each with its own numbers.
CONFIGURATIONS: tuple[Configuration, ...] = (
    Configuration(
        "under-header",
        40,
        (1,),
        depth=10,
        expects=frozenset({"D3"}),
        purpose="a region smaller than one entry header",
    ),
    Configuration(
        "exact-fit",
        104,
        (4, 16),
        max_region=208,
        depth=8,
        expects=frozenset({"D1", "C4"}),
        purpose="two 52-byte entries fill the region exactly; a 64-byte one leaves 40 bytes",
    ),
    Configuration(
        "empty-payload",
        160,
        (0, 16),
        depth=10,
        expects=frozenset({"D4"}),
        purpose="the empty payload next to one that wraps",
    ),
    Configuration(
        "sequence-end",
        175,
        (8,),
        start_sequence=2**64 - 2,
        depth=10,
        expects=frozenset({"D2"}),
        purpose="the last two sequences; 56-byte entries wrap a 175-byte region",
    ),
    Configuration(
        "wrap",
        191,
        (16,),
        depth=10,
        expects=frozenset({"C2", "C3"}),
        purpose="64-byte entries in 64*2+63 bytes: wraps, never within 48 bytes of the end",
    ),
    Configuration(
        "caller",
        128,
        (16,),
        max_region=256,
        depth=5,
        expects=frozenset({"C4", "M3", "M4"}),
        purpose="the caller layer (S9): two 64-byte entries fill the region; growth, commits, the doctor",
        caller_layer=True,
    ),
    Configuration(
        "two-sectors",
        611,
        (500,),
        depth=9,
        expects=frozenset({"C1"}),
        purpose="a 548-byte entry spans the region's first two 512-byte sectors",
    ),
)

CONFIGURATIONS_BY_NAME = {config.name: config for config in CONFIGURATIONS}
