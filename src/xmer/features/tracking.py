"""Following faces across frames: greedy intersection-over-union (IoU) tracking.

Every sampled frame's face boxes are matched to the tracks alive in the previous frames: the pair
(track, box) with the highest IoU is matched first, then the next, as long as the IoU is at least
``min_iou``; a box left over starts a new track, and a track not matched for ``max_gap`` seconds
ends. This is enough for the faces of talking-head and interview video, which move little between
samples a quarter of a second apart; faces that cross or swap places may swap identities, and a
face that leaves and comes back gets a new track.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Box = tuple[int, int, int, int]
"""x, y, w, h in pixels."""


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0, min(ax1, bx1) - max(a[0], b[0]))
    h = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Alive:
    id: int
    box: Box
    last: float


@dataclass
class IoUTracker:
    """Assigns a track id to each face box of each frame (call :meth:`update` in time order)."""

    min_iou: float = 0.3
    max_gap: float = 1.0
    """Seconds a track may go unseen before it ends."""
    alive: list[_Alive] = field(default_factory=list)
    next_id: int = 1

    def update(self, time: float, boxes: list[Box]) -> list[int]:
        """The track id of each of ``boxes`` (the faces of the frame at ``time`` seconds)."""
        self.alive = [t for t in self.alive if time - t.last <= self.max_gap]
        pairs = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self.alive) for bi, b in enumerate(boxes)), reverse=True)
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for overlap, ti, bi in pairs:
            if overlap < self.min_iou:
                break
            if ti in used or ids[bi] is not None:
                continue
            used.add(ti)
            ids[bi] = self.alive[ti].id
            self.alive[ti].box, self.alive[ti].last = boxes[bi], time
        for bi, box in enumerate(boxes):
            if ids[bi] is None:
                ids[bi] = self.next_id
                self.alive.append(_Alive(self.next_id, box, time))
                self.next_id += 1
        return [int(i) for i in ids]
