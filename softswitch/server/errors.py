"""P4Runtime errors: the canonical code names of google.rpc.Code and how a failed RPC carries
them (plain status, or UNKNOWN with one p4.v1.Error per update in the status details)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from finsy.proto import p4r, rpc_status
from google.protobuf import any_pb2

from softswitch.entries import SwitchError

# google.rpc.Code name -> number (the same numbering as grpc.StatusCode).
CODES: dict[str, int] = {sc.name: sc.value[0] for sc in grpc.StatusCode}
STATUS_CODES: dict[str, grpc.StatusCode] = {sc.name: sc for sc in grpc.StatusCode}

# What the status details travel in, as grpc-status (grpcio-status) reads them.
DETAILS_KEY = "grpc-status-details-bin"


def error(code: str, message: str) -> SwitchError:
    """A SwitchError with a checked code name (a typo in a code name is a bug, not a request
    error, so it fails loudly here)."""
    if code not in CODES:
        raise ValueError(f"unknown google.rpc.Code name {code!r}")
    return SwitchError(code, message)


def p4_error(exc: SwitchError | None) -> p4r.Error:
    """The p4.v1.Error for one update: OK when exc is None."""
    if exc is None:
        return p4r.Error(canonical_code=0)
    return p4r.Error(canonical_code=CODES.get(exc.code, CODES["UNKNOWN"]), message=exc.message)


def abort(context: grpc.ServicerContext, exc: SwitchError) -> None:
    """End the RPC with exc's code and message (raises, as grpc's abort does)."""
    context.abort(STATUS_CODES.get(exc.code, grpc.StatusCode.UNKNOWN), exc.message)


def abort_batch(context: grpc.ServicerContext, results: Sequence[SwitchError | None]) -> None:
    """End a Write whose batch had a failure: UNKNOWN, with a google.rpc.Status in the trailing
    metadata holding one p4.v1.Error per update, OK ones included (P4Runtime spec 12.3)."""
    failed = sum(r is not None for r in results)
    message = f"{failed} of {len(results)} updates failed"
    status = rpc_status.Status(code=CODES["UNKNOWN"], message=message)
    for r in results:
        packed = any_pb2.Any()
        packed.Pack(p4_error(r))
        status.details.append(packed)
    context.abort_with_status(_RichStatus(status))


class _RichStatus(grpc.Status):
    """A grpc.Status with details, for ServicerContext.abort_with_status."""

    def __init__(self, status: rpc_status.Status) -> None:
        self.code = grpc.StatusCode.UNKNOWN
        self.details = status.message
        self.trailing_metadata = ((DETAILS_KEY, status.SerializeToString()),)


def batch_errors(err: grpc.RpcError) -> list[p4r.Error]:
    """The per-update p4.v1.Errors of a failed Write, for clients and tests."""
    for key, value in err.trailing_metadata() or ():
        if key == DETAILS_KEY:
            status = rpc_status.Status.FromString(value)
            out = []
            for d in status.details:
                e = p4r.Error()
                d.Unpack(e)
                out.append(e)
            return out
    return []
