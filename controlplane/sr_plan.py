"""Make-before-break for SR-P2MP tree instances: the ordered writes of a tree change.

1. install: every segment of the new instance on every node (per switch: group, branches,
   then the Replication-SID entry that makes it live; switches may be written concurrently,
   nothing sends to the new SIDs yet);
2. handover: the sender gets the new root SID (traffic moves to the new tree at once);
3. delete: every segment of the old instance (per switch: SID entry first, so nothing is
   replicated into a half-deleted segment, then branches, then the group).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from controlplane.entities import Update
from controlplane.srp2mp import TreeInstance
from controlplane.translate import sr_segment_entities

Phase = Literal["install", "handover", "delete"]


@dataclass(frozen=True)
class Step:
    phase: Phase
    switch: str | None = None  # None for the handover
    updates: tuple[Update, ...] = ()
    root_sid: int | None = None  # the SID handed to the sender (handover only)


def install_steps(inst: TreeInstance) -> list[Step]:
    # downstream nodes first (reverse BFS): a reader of the order sees leaves ready first
    return [
        Step("install", node, tuple(Update("INSERT", e) for e in sr_segment_entities(seg)))
        for node, seg in reversed(list(inst.segments.items()))
    ]


def delete_steps(inst: TreeInstance) -> list[Step]:
    return [
        Step("delete", node, tuple(Update("DELETE", e) for e in reversed(sr_segment_entities(seg))))
        for node, seg in inst.segments.items()
    ]


def make_before_break(old: TreeInstance | None, new: TreeInstance) -> list[Step]:
    steps = install_steps(new)
    steps.append(Step("handover", root_sid=new.root_sid))
    if old is not None:
        steps += delete_steps(old)
    return steps


def writes(steps: list[Step]) -> int:
    return sum(len(s.updates) for s in steps)
