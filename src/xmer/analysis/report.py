"""Writing a :class:`~xmer.analysis.timeline.Timeline` to a folder: what ``xmer analyze --out DIR`` leaves.

- ``timeline.json``: the timeline object (``source``, ``duration``, ``labels``, ``segments``, the
  transcript, the face tracks with their box paths);
- ``timeline.csv``: one row a segment (of every face's timeline with ``--faces all``), with
  ``face_timeline``, ``start``, ``end``, ``kind``, ``prediction``, ``observed``, ``imagined``,
  ``face``, one column per label and the words;
- ``timeline.png``: the probabilities stacked over time (one panel per face timeline), the
  predicted label above each segment, the words underneath, and three lanes saying which
  modalities each segment observed (filled) or imagined (dotted);
- ``summary.md``: the dominant emotion, the share of time per emotion and the moments of strongest
  change (largest total-variation distance between the probabilities of consecutive segments).

Every file is written atomically; nothing else in the folder is touched.
"""

from __future__ import annotations

import csv
import importlib
import io
import threading
import textwrap
from pathlib import Path


from xmer.io import atomic_path, atomic_write_json, atomic_write_text
from xmer.analysis.timeline import Segment, Timeline

FILES = ("timeline.json", "timeline.csv", "timeline.png", "summary.md")

COLOURS = {"angry": "#d62728", "anger": "#d62728", "disgust": "#8c8c2a", "fear": "#9467bd", "happy": "#f2c12e",
           "joy": "#f2c12e", "sad": "#1f77b4", "sadness": "#1f77b4", "surprise": "#ff7f0e", "neutral": "#b0b0b0",
           "calm": "#9edae5", "contempt": "#8c564b"}
"""Colours of the usual emotion names in the picture (others take matplotlib's tab10 colours)."""


def warm_up() -> None:
    """Start importing matplotlib in a background thread, so that drawing ``timeline.png`` after an
    analysis does not wait for the import (it overlaps the analysis, which waits mostly in native code)."""
    threading.Thread(target=importlib.import_module, args=("matplotlib.figure",), name="xmer-import-matplotlib", daemon=True).start()


def write_timeline(timeline: Timeline, out_dir: str | Path) -> list[Path]:
    """Write the four files of the module docstring into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "timeline.json", timeline.to_json())
    atomic_write_text(out_dir / "timeline.csv", _csv(timeline))
    _plot(timeline, out_dir / "timeline.png")
    atomic_write_text(out_dir / "summary.md", summary(timeline))
    return [out_dir / name for name in FILES]


def _csv(timeline: Timeline) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["face_timeline", "start", "end", "kind", "prediction", "observed", "imagined", "face", *timeline.labels, "text"])
    for name, segments in timeline.timelines().items():
        for s in segments:
            prediction = "+".join(s.prediction) if isinstance(s.prediction, list) else (s.prediction or "")
            writer.writerow([name, f"{s.start:.3f}", f"{s.end:.3f}", s.kind, prediction, "+".join(s.observed),
                             "+".join(s.imagined), s.face["track"] if s.face else "",
                             *(f"{s.probabilities[l]:.4f}" if l in s.probabilities else "" for l in timeline.labels), s.text])
    return buffer.getvalue()


def _shares(segments: list[Segment]) -> dict[str, float]:
    """Label -> seconds during which it was the prediction."""
    seconds: dict[str, float] = {}
    for s in segments:
        for label in (s.prediction if isinstance(s.prediction, list) else [s.prediction] if s.prediction else []):
            seconds[label] = seconds.get(label, 0.0) + (s.end - s.start)
    return seconds


def changes(segments: list[Segment], labels: list[str], top: int = 3) -> list[tuple[float, float, Segment, Segment]]:
    """The ``top`` moments of strongest change: ``(time, distance, before, after)``, by total-variation
    distance (half the L1 distance, 0 to 1) between consecutive predicted segments' probabilities."""
    rows = [s for s in segments if s.probabilities]
    out = []
    for a, b in zip(rows, rows[1:]):
        d = 0.5 * sum(abs(a.probabilities[l] - b.probabilities[l]) for l in labels)
        out.append((b.start, d, a, b))
    return sorted(out, key=lambda r: -r[1])[:top]


def summary(timeline: Timeline) -> str:
    """The short Markdown summary of a timeline."""
    segments = timeline.segments
    shares = _shares(segments)
    total = timeline.duration or 1.0
    lines = [f"# Emotion timeline of {Path(timeline.source).name}", ""]
    lines.append(f"{timeline.duration:.1f} s, {len(segments)} segments "
                 f"({sum(s.kind == 'speech' for s in segments)} with speech); words: "
                 f"{ {'asr': 'transcribed from the speech', 'transcript': 'from the transcript given'}.get(timeline.text_source, 'none')}; "
                 f"faces: {len(timeline.tracks)} track{'s' * (len(timeline.tracks) != 1)}"
                 + (f", following face {timeline.main_face}" if timeline.main_face else "") + ".")
    lines.append("")
    if shares:
        dominant = max(shares, key=shares.get)
        lines.append(f"**Dominant emotion: {dominant}** ({100 * shares[dominant] / total:.0f}% of the time).")
        lines.append("")
        lines += ["| emotion | share of time | seconds |", "| :-- | --: | --: |"]
        for label in sorted(shares, key=lambda l: -shares[l]):
            lines.append(f"| {label} | {100 * shares[label] / total:.0f}% | {shares[label]:.1f} |")
        unknown = total - sum(shares.values())
        if unknown > 0.05:
            lines.append(f"| (nothing observed) | {100 * unknown / total:.0f}% | {unknown:.1f} |")
    else:
        lines.append("Nothing in the recording could be read: no face, no sound, no words.")
    moments = [m for m in changes(segments, timeline.labels, top=len(segments)) if m[2].prediction != m[3].prediction][:3]
    if moments:
        lines += ["", "Strongest changes of the predicted emotion:", ""]
        for time, distance, a, b in moments:
            lines.append(f"- {_clock(time)}: {a.prediction} → {b.prediction} (distance {distance:.2f})"
                         + (f', "{_short(b.text)}"' if b.text else ""))
    if timeline.transcript:
        lines += ["", "Transcript:", "", "> " + timeline.transcript]
    return "\n".join(lines) + "\n"


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:04.1f}"


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _plot(timeline: Timeline, path: Path) -> None:
    # matplotlib's object interface, never pyplot: pyplot keeps global state, and timelines are drawn
    # from several threads at once (the server's media threads).
    import matplotlib
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    panels = timeline.timelines()
    labels = timeline.labels
    tab10 = matplotlib.colormaps["tab10"]
    colours = [COLOURS.get(label.lower(), tab10(i % 10)) for i, label in enumerate(labels)]
    width = min(24.0, max(10.0, timeline.duration / 4))
    fig = Figure(figsize=(width, 4.2 * len(panels)))
    axes = fig.subplots(2 * len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": [3, 1.8] * len(panels)})
    for k, (name, segments) in enumerate(panels.items()):
        ax, words = axes[2 * k, 0], axes[2 * k + 1, 0]
        predicted = [s for s in segments if s.probabilities]
        for s in segments:
            if not s.probabilities:
                ax.axvspan(s.start, s.end, facecolor="white", edgecolor="0.7", hatch="//", linewidth=0)
        bottom = [0.0] * len(predicted)
        for label, colour in zip(labels, colours):  # one stacked bar a segment: a collection per label (a patch per bar is slow)
            top = [b + s.probabilities[label] for b, s in zip(bottom, predicted)]
            ax.add_collection(PolyCollection([[(s.start, b), (s.start, t), (s.end, t), (s.end, b)] for s, b, t in zip(predicted, bottom, top)],
                                             facecolors=colour, linewidths=0))
            bottom = top
        for s in predicted:
            inches = (s.end - s.start) / max(timeline.duration, 1e-6) * width * 0.8
            if inches >= 0.1:  # the label above the bar, turned upright where it is wider than the segment
                ax.text((s.start + s.end) / 2, 1.02, str(s.prediction), ha="center", va="bottom", fontsize=7,
                        rotation=90 if len(str(s.prediction)) * 7 * 0.6 / 72 > 0.9 * inches else 0)
        ax.set_xlim(0, timeline.duration)
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        title = f"{Path(timeline.source).name}: emotion over time" + ("" if name == "main" else f", {name}")
        if name == "main" and timeline.main_face:
            title += f" (face {timeline.main_face})"
        ax.set_title(title, pad=40)
        if k == 0:
            handles = [Rectangle((0, 0), 1, 1, color=c) for c in colours] + [
                Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="0.7", hatch="//")]
            ax.legend(handles, [*labels, "nothing observed"], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        words.set_xlim(0, timeline.duration)
        words.set_ylim(0, 1)
        for spine in ("top", "right", "left"):
            words.spines[spine].set_visible(False)
        # three lanes at the bottom: which modality each segment observed (filled) or imagined (outlined)
        lanes = {"visual": 0.22, "audio": 0.12, "text": 0.02}
        for m, y in lanes.items():
            observed = [(s.start, s.end - s.start) for s in segments if m in s.observed]
            imagined = [(s.start, s.end - s.start) for s in segments if m not in s.observed and m in s.imagined]
            words.broken_barh(observed, (y, 0.08), color="0.35", linewidth=0)
            words.broken_barh(imagined, (y, 0.08), facecolor="none", edgecolor="0.6", linewidth=0.6, hatch="....")
        words.set_yticks([y + 0.04 for y in lanes.values()], list(lanes), fontsize=7)
        words.tick_params(axis="y", length=0)
        axis_inches = fig.get_size_inches()[0] * 0.8
        speech = [s for s in segments if s.text]
        for s in speech:
            chars = max(6, int((s.end - s.start) / max(timeline.duration, 1e-6) * axis_inches * 19))
            lines = textwrap.wrap(s.text, chars)
            if len(lines) > 6:
                lines = lines[:5] + [_short(" ".join(lines[5:]), chars)]
            words.axvspan(s.start, s.end, ymin=0.34, color="0.95", linewidth=0)
            words.text((s.start + s.end) / 2, 0.97, "\n".join(lines), ha="center", va="top", fontsize=6.5)
        words.set_xlabel("time (s)" + ("" if speech else "   (no words)"))
        ax.set_xticklabels([])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")

