"""Result rows, ratios and the Markdown/JSON output of the benchmarks."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any


@dataclass
class Row:
    """One measured quantity for several implementations.

    ``values`` maps a column (an implementation) to its measurement, ``None`` when it does not
    apply or failed.  ``ratios`` maps a label ``"<qtws column> vs <other column>"`` to a ratio
    that is > 1 when qtws is faster: qtws ÷ other for throughputs (``higher_is_better``),
    other ÷ qtws for times.  With ``mine`` (the qtws columns), the ratio labelled
    :data:`BEST` compares the best of them with the best of every other column, named in
    ``best_peer``.
    """

    group: str
    name: str
    unit: str
    higher_is_better: bool
    values: dict[str, float | None]
    pairs: list[tuple[str, str]] = field(default_factory=list)
    ratios: dict[str, float | None] = field(default_factory=dict)
    mine: tuple[str, ...] = ()
    best_peer: str | None = None
    #: Per column, the spread of the repeats: half their range relative to the median
    #: (0.08: the repeats lay within ±8 % of the median); shown as ``±8%`` in the table.
    spread: dict[str, float] = field(default_factory=dict)

    def _ratio(self, a: float | None, b: float | None) -> float | None:
        if not (a and b):
            return None
        return a / b if self.higher_is_better else b / a

    def _best(self, columns: list[str]) -> str | None:
        measured = [c for c in columns if self.values.get(c)]
        if not measured:
            return None
        pick = max if self.higher_is_better else min
        return pick(measured, key=lambda c: self.values[c] or 0.0)

    def __post_init__(self) -> None:
        for mine, other in self.pairs:
            self.ratios[f"{mine} vs {other}"] = self._ratio(
                self.values.get(mine), self.values.get(other)
            )
        if self.mine:
            ours = self._best([c for c in self.values if c in self.mine])
            self.best_peer = self._best([c for c in self.values if c not in self.mine])
            self.ratios[BEST] = self._ratio(
                self.values.get(ours or ""), self.values.get(self.best_peer or "")
            )


#: The label of the ratio "best qtws column vs best other column".
BEST = "qtws vs best peer"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _core_build() -> str:
    """Whether qtws.core ran compiled (mypyc) or interpreted."""
    try:
        import qtws.core
    except ImportError:  # pragma: no cover
        return "?"
    compiled = getattr(qtws.core, "COMPILED", ())
    return f"compiled ({len(compiled)} modules)" if compiled else "interpreted"


def machine_info() -> dict[str, Any]:
    """The facts a reader needs to put the numbers in context."""
    try:
        from PyQt6.QtCore import PYQT_VERSION_STR, QT_VERSION_STR
    except ImportError:  # pragma: no cover - PyQt6 is a dependency of qtws
        PYQT_VERSION_STR = QT_VERSION_STR = "not installed"
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "qtws": _version("qtws"),
        "pyqt6": PYQT_VERSION_STR,
        "qt": QT_VERSION_STR,
        "websockets": _version("websockets"),
        "wsproto": _version("wsproto"),
        "aiohttp": _version("aiohttp"),
        "picows": _version("picows"),
        "websocket-client": _version("websocket-client"),
        "numpy": _version("numpy"),
        "core": _core_build(),
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg())
        if hasattr(os, "getloadavg")
        else "",
    }


def machine_line(info: dict[str, Any]) -> str:
    server = f"; peer: {info['server']}" if info.get("server") else ""
    core = f", core {info['core']}" if info.get("core") else ""
    load = f", load average {info['load']}" if info.get("load") else ""
    return (
        f"{info['cpus']} CPUs ({info['cpu']}{load}), {info['platform']}, "
        f"Python {info['python']}, qtws {info['qtws']}{core}, "
        f"PyQt6 {info['pyqt6']} (Qt {info['qt']}), "
        f"websockets {info['websockets']}, wsproto {info['wsproto']}, aiohttp {info['aiohttp']}, "
        f"picows {info['picows']}, websocket-client {info['websocket-client']}, "
        f"numpy {info['numpy']}{server}"
    )


def spread_of(samples: list[float]) -> float:
    """Half the range of ``samples`` relative to their median (see :attr:`Row.spread`)."""
    ordered = sorted(samples)
    mid = ordered[len(ordered) // 2]
    return (ordered[-1] - ordered[0]) / 2 / mid if mid else 0.0


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100_000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"**{value:.2f}×**"  # noqa: RUF001


def markdown(rows: list[Row], info: dict[str, Any], notes: dict[str, list[str]]) -> str:
    """One Markdown table per group; ``notes[group]`` lines follow its table."""
    out = [
        "## qtws benchmarks",
        "",
        f"Machine: {machine_line(info)}.",
        "",
        "Ratios: > 1 means qtws is faster (qtws ÷ other for rates, other ÷ qtws for times).",
    ]
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    for group, members in groups.items():
        columns: list[str] = []
        ratio_cols: list[str] = []
        for row in members:
            columns += [c for c in row.values if c not in columns]
            ratio_cols += [r for r in row.ratios if r not in ratio_cols]
        header = ["benchmark", "unit", *columns, *ratio_cols]
        out += ["", f"### {group}", ""]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|")
        for row in members:
            cells = [row.name, row.unit]
            for c in columns:
                cell = _fmt(row.values.get(c))
                if c in row.spread and row.values.get(c) is not None:
                    cell += f" ±{row.spread[c] * 100:.0f}%"
                cells.append(cell)
            for r in ratio_cols:
                cell = _fmt_ratio(row.ratios.get(r)) if r in row.ratios else ""
                if r == BEST and row.best_peer and row.ratios.get(r) is not None:
                    cell += f" ({row.best_peer})"
                cells.append(cell)
            out.append("| " + " | ".join(cells) + " |")
        for note in notes.get(group, []):
            out += ["", note]
    return "\n".join(out) + "\n"


def as_json(rows: list[Row], info: dict[str, Any], notes: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "machine": info,
        "rows": [
            {
                "group": r.group,
                "name": r.name,
                "unit": r.unit,
                "higher_is_better": r.higher_is_better,
                "values": r.values,
                "ratios": r.ratios,
                "best_peer": r.best_peer,
                "spread": r.spread,
            }
            for r in rows
        ],
        "notes": notes,
    }


def chart(rows: list[Row], info: dict[str, Any], path: Any) -> bool:
    """A PNG of the ratios (qtws vs the best peer; the GUI rows: qtws Qt vs QWebSocket), one
    bar per row, on a log scale around 1; False without matplotlib (the bench extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    bars: list[tuple[str, float, str]] = []
    for row in rows:
        if row.ratios.get(BEST) is not None:
            bars.append(
                (
                    f"{row.name} [{row.unit}]",
                    row.ratios[BEST] or 0.0,
                    row.best_peer or "",
                )
            )
        elif row.ratios.get("qtws Qt vs QWebSocket") is not None:
            bars.append(
                (
                    f"{row.name} [{row.unit}]",
                    row.ratios["qtws Qt vs QWebSocket"] or 0.0,
                    "QWebSocket",
                )
            )
    if not bars:
        return False
    fig, ax = plt.subplots(figsize=(11, 0.32 * len(bars) + 1.8))
    labels = [b[0] if len(b[0]) < 75 else b[0][:72] + "..." for b in bars]
    values = [b[1] for b in bars]
    colours = ["#2e7d32" if v >= 1 else "#c62828" for v in values]
    y = list(range(len(bars)))[::-1]
    ax.barh(y, values, color=colours)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels, fontsize=7)
    for yi, (_, value, peer) in zip(y, bars, strict=True):
        ax.text(value, yi, f" {value:.2f}x vs {peer}", va="center", fontsize=6)
    ax.set_xlabel("qtws ÷ best other client (> 1: qtws is better; log scale)")
    ax.set_title(
        "python3 .ci/dev.py bench — " + machine_line(info)[:150],
        fontsize=7,
        loc="left",
        wrap=True,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
