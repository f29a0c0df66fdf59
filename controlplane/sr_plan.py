"""Make-before-break for SR-P2MP tree instances: the ordered writes of a tree change.

1. install: every segment of the new instance on every node (per switch: group, branches,
   then the Replication-SID entry that makes it live; switches may be written concurrently,
   nothing sends to the new SIDs yet);
2. handover: the sender gets the new root SID (traffic moves to the new tree at once); or,
   when the new instance keeps the old root SID, move: one MODIFY points the root's SID
   entry at the new root group (the sender's label does not change);
3. delete: every segment of the old instance (per switch: SID entry first, so nothing is
   replicated into a half-deleted segment, then branches, then the group; a kept root SID
   entry stays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from controlplane.entities import Update
from controlplane.srp2mp import TreeInstance
from controlplane.translate import sr_segment_entities

Phase = Literal["install", "handover", "move", "delete"]


@dataclass(frozen=True)
class Step:
    phase: Phase
    switch: str | None = None  # None for the handover
    updates: tuple[Update, ...] = ()
    root_sid: int | None = None  # the SID handed to the sender (handover only)


def _rep_sid(u: Update) -> bool:
    return getattr(u.entity, "table", "") == "MyIngress.rep_sid"


def install_steps(inst: TreeInstance, keep_root_sid: bool = False) -> list[Step]:
    # downstream nodes first (reverse BFS): a reader of the order sees leaves ready first
    out = []
    for node, seg in reversed(list(inst.segments.items())):
        ups = [Update("INSERT", e) for e in sr_segment_entities(seg)]
        if keep_root_sid and node == inst.root:
            ups = [u for u in ups if not _rep_sid(u)]
        out.append(Step("install", node, tuple(ups)))
    return out


def delete_steps(inst: TreeInstance, keep_root_sid: bool = False) -> list[Step]:
    out = []
    for node, seg in inst.segments.items():
        ups = [Update("DELETE", e) for e in reversed(sr_segment_entities(seg))]
        if keep_root_sid and node == inst.root:
            ups = [u for u in ups if not _rep_sid(u)]
        out.append(Step("delete", node, tuple(ups)))
    return out


def make_before_break(old: TreeInstance | None, new: TreeInstance) -> list[Step]:
    shared = old is not None and old.root == new.root and old.root_sid == new.root_sid
    steps = install_steps(new, keep_root_sid=shared)
    if shared:
        rep = next(e for e in sr_segment_entities(new.segments[new.root]) if hasattr(e, "table")
                   and e.table == "MyIngress.rep_sid")  # fmt: skip
        steps.append(Step("move", new.root, (Update("MODIFY", rep),), root_sid=new.root_sid))
    else:
        steps.append(Step("handover", root_sid=new.root_sid))
    if old is not None:
        steps += delete_steps(old, keep_root_sid=shared)
    return steps


def writes(steps: list[Step]) -> int:
    return sum(len(s.updates) for s in steps)
