"""Errors of the control plane. Every message names what is wrong and where."""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Base class: bad input or a state the control plane refuses to install."""


class TopologyError(ControlPlaneError):
    """The topology cannot be routed: disconnected, a host without a switch, unknown link."""


class ReceiverError(ControlPlaneError):
    """A receiver set names unknown hosts, non-GPU hosts, or exceeds the bits available."""


class LabelBlockExhausted(ControlPlaneError):
    """The SR label block has no free labels left for a new tree instance."""


class DuplicateRiskError(ControlPlaneError):
    """F-BMs on one BFR overlap: one-pass replication would deliver duplicates."""


class WriteError(ControlPlaneError):
    """A P4Runtime write failed. Names the switch, the entity and the reason."""

    def __init__(self, switch: str, entity: str, reason: str) -> None:
        super().__init__(f"switch {switch}: write of {entity} failed: {reason}")
        self.switch = switch
        self.entity = entity
        self.reason = reason
