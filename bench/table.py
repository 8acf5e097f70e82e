"""The table `bench/run.py` prints: one figure per row, the hub beside its baseline."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Figure:
    what: str
    hub: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""  # met / missed / "" (no target)
    notes: str = ""


class Table:
    def __init__(self) -> None:
        self.figures: list[Figure] = []
        self.raw: dict[str, Any] = {}

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        print(f"  {figure.what}: {figure.hub}  [{figure.baseline}]  {figure.verdict}", flush=True)

    def print(self) -> None:
        header = Figure("figure", "hub", "baseline", "ratio", "target", "verdict", "notes")
        rows = [header, *self.figures]
        names = list(asdict(header))
        widths = [max(len(getattr(r, n)) for r in rows) for n in names]
        for i, row in enumerate(rows):
            cells = [getattr(row, n).ljust(w) for n, w in zip(names, widths, strict=True)]
            print("  ".join(cells).rstrip())
            if i == 0:
                print("  ".join("-" * w for w in widths))


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def rate(value: float) -> str:
    return f"{value:,.0f}"
