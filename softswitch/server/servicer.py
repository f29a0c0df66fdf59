"""The p4.v1.P4Runtime gRPC service (finsy's generated servicer base) over one Device."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
from finsy.proto import p4r, p4r_grpc

from softswitch.entries import SwitchError
from softswitch.server.arbitration import Arbiter
from softswitch.server.device import Device
from softswitch.server.errors import CODES, abort, abort_batch, error

log = logging.getLogger("softswitch.server")

API_VERSION = "1.4.0"
_END = object()


class _Stream:
    """One StreamChannel: responses queue up here and the RPC's generator yields them."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.out: queue.Queue = queue.Queue(maxsize=4096)

    def put(self, item) -> None:
        try:
            self.out.put_nowait(item)
        except queue.Full:  # a slow client loses PacketIns rather than stalling the switch
            log.warning("stream %s: queue full, message dropped", self.peer)


class P4RuntimeServicer(p4r_grpc.P4RuntimeServicer):
    def __init__(self, device: Device) -> None:
        self.device = device
        self.arbiter = Arbiter(device.device_id)
        device.packet_in_sink = self._packet_in

    # --- checks shared by the RPCs --------------------------------------------------------
    def _check_device(self, device_id: int) -> None:
        if device_id != self.device.device_id:
            raise error("NOT_FOUND", f"unknown device id {device_id}")

    def _check_primary(self, req, what: str) -> None:
        if req.role:
            raise error("UNIMPLEMENTED", f"role {req.role!r}: only the default role exists")
        eid = req.election_id if req.HasField("election_id") else None
        if not self.arbiter.is_primary(eid):
            raise error("PERMISSION_DENIED", f"{what}: client is not the primary")

    # --- unary RPCs ----------------------------------------------------------------------
    def Capabilities(self, request, context):
        return p4r.CapabilitiesResponse(p4runtime_api_version=API_VERSION)

    def SetForwardingPipelineConfig(self, request, context):
        try:
            self._check_device(request.device_id)
            self._check_primary(request, "SetForwardingPipelineConfig")
            cfg = request.config if request.HasField("config") else None
            self.device.set_pipeline(request.action, cfg)
        except SwitchError as exc:
            log.info("SetForwardingPipelineConfig rejected: %s", exc)
            abort(context, exc)
        return p4r.SetForwardingPipelineConfigResponse()

    def GetForwardingPipelineConfig(self, request, context):
        try:
            self._check_device(request.device_id)
            cfg = self.device.get_pipeline(request.response_type)
        except SwitchError as exc:
            abort(context, exc)
        return p4r.GetForwardingPipelineConfigResponse(config=cfg)

    def Write(self, request, context):
        try:
            self._check_device(request.device_id)
            self._check_primary(request, "Write")
            if not self.device.programmed:
                raise error("FAILED_PRECONDITION", "no forwarding pipeline config has been set")
            if request.atomicity != p4r.WriteRequest.CONTINUE_ON_ERROR:
                raise error("UNIMPLEMENTED", "only CONTINUE_ON_ERROR atomicity is supported")
        except SwitchError as exc:
            abort(context, exc)
        results: list[SwitchError | None] = []
        for upd in request.updates:
            try:
                self.device.write(upd)
                results.append(None)
            except SwitchError as exc:
                results.append(exc)
            except Exception as exc:  # a core bug must not end the server
                log.exception("write failed")
                results.append(SwitchError("INTERNAL", f"{type(exc).__name__}: {exc}"))
        if any(r is not None for r in results):
            for r in results:
                if r is not None:
                    log.info("Write: %s", r)
            abort_batch(context, results)
        return p4r.WriteResponse()

    def Read(self, request, context) -> Iterator[p4r.ReadResponse]:
        try:
            self._check_device(request.device_id)
            entities = []
            for ent in request.entities:
                entities.extend(self.device.read(ent))
        except SwitchError as exc:
            abort(context, exc)
        except Exception as exc:
            log.exception("read failed")
            abort(context, SwitchError("INTERNAL", f"{type(exc).__name__}: {exc}"))
        # Chunks keep each message well below gRPC's 4 MB default.
        for i in range(0, max(len(entities), 1), 1000):
            yield p4r.ReadResponse(entities=entities[i : i + 1000])

    # --- the stream channel --------------------------------------------------------------
    def StreamChannel(self, request_iterator, context):
        stream = _Stream(context.peer())
        reader = threading.Thread(
            target=self._read_stream, args=(stream, request_iterator), daemon=True
        )
        context.add_callback(lambda: self._close(stream))
        reader.start()
        while True:
            item = stream.out.get()
            if item is _END:
                return
            if isinstance(item, SwitchError):
                self._close(stream)
                abort(context, item)
            yield item

    def _close(self, stream: _Stream) -> None:
        for s, msg in self.arbiter.remove(stream):
            s.put(msg)
        stream.put(_END)

    def _read_stream(self, stream: _Stream, requests) -> None:
        try:
            for req in requests:
                kind = req.WhichOneof("update")
                if kind == "arbitration":
                    try:
                        notices = self.arbiter.arbitrate(stream, req.arbitration)
                    except SwitchError as exc:
                        log.info("stream %s: arbitration rejected: %s", stream.peer, exc)
                        stream.put(exc)  # ends the stream with that status
                        return
                    for s, msg in notices:
                        s.put(msg)
                elif kind == "packet":
                    self._packet_out(stream, req.packet)
                elif kind is not None:
                    stream.put(self._stream_error(CODES["UNIMPLEMENTED"], f"{kind} not supported"))
        except grpc.RpcError:
            pass  # the client went away
        except Exception:
            log.exception("stream %s: reader failed", stream.peer)
        finally:
            self._close(stream)

    def _packet_out(self, stream: _Stream, pkt: p4r.PacketOut) -> None:
        if self.arbiter.primary() is not stream:
            err = self._stream_error(CODES["PERMISSION_DENIED"], "PacketOut from a non-primary")
            err.error.packet_out.packet_out.CopyFrom(pkt)
            stream.put(err)
            return
        try:
            self.device.packet_out(pkt)
        except SwitchError as exc:
            err = self._stream_error(CODES.get(exc.code, 2), exc.message)
            err.error.packet_out.packet_out.CopyFrom(pkt)
            stream.put(err)
        except Exception as exc:
            log.exception("packet out failed")
            stream.put(self._stream_error(CODES["INTERNAL"], f"{type(exc).__name__}: {exc}"))

    @staticmethod
    def _stream_error(code: int, message: str) -> p4r.StreamMessageResponse:
        resp = p4r.StreamMessageResponse()
        resp.error.canonical_code = code
        resp.error.message = message
        return resp

    def _packet_in(self, msg: p4r.PacketIn) -> None:
        primary = self.arbiter.primary()
        if primary is not None:
            primary.put(p4r.StreamMessageResponse(packet=msg))


def serve(
    device: Device,
    address: str,
    workers: int = 32,
    also: Callable[[grpc.Server], object] | None = None,
) -> tuple[grpc.Server, int]:
    """Start the gRPC server; returns it and the bound port (address may end in :0).
    `also(server)` adds further services (the switch's gNMI) before it starts."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="p4rt"),
        options=[
            ("grpc.max_receive_message_length", 256 << 20),
            ("grpc.max_send_message_length", 256 << 20),
            ("grpc.so_reuseport", 0),
        ],
    )
    p4r_grpc.add_P4RuntimeServicer_to_server(P4RuntimeServicer(device), server)
    if also is not None:
        also(server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    server.start()
    return server, port
