"""A receiver that is done lingers for the sender's FIN; a POLL after its DONE means the
sender did not hear it (lost, or a link on the way down), and it keeps answering as long as
the sender asks, where it used to leave `linger` seconds after DONE and the sender polled
nobody until its deadline."""

from __future__ import annotations

import select
import socket
import threading
import time
from pathlib import Path

from modelsync.control import decode_control
from modelsync.receiver import EXIT_COMPLETE, Receiver, ReceiverConfig
from wire.codec import MsgType

from .helpers import all_datagrams, chunker, small_model

LINGER = 1.0


def _done(ctl: socket.socket, wait: float) -> list[int]:
    """The POLL sequence of the next DONE report that reaches the sender's control socket
    within `wait` seconds ([] if none)."""
    got: list[int] = []
    end = time.monotonic() + wait
    while not got and (left := end - time.monotonic()) > 0:
        if not select.select([ctl], [], [], left)[0]:
            break
        msg = decode_control(ctl.recv(4096))
        if msg.type == "done":
            got.append(msg.poll)
    return got


def test_a_done_receiver_answers_every_poll_past_its_linger_and_ends_after(
    tmp_path: Path,
) -> None:
    m = small_model(tmp_path / "model", 100_000, 1, seed=3)
    s = chunker(tmp_path / "model", m)  # builds the datagrams; its control socket hears DONE
    cfg = ReceiverConfig(
        name="r1", manifest=m, out_dir=tmp_path / "out", sender_ip="127.0.0.1",
        sender_port=s.ctl.getsockname()[1], port=0, bind="127.0.0.1", group=None,
        linger=LINGER, deadline=60,
    )  # fmt: skip
    r = Receiver(cfg)
    to = ("127.0.0.1", r.sock.getsockname()[1])
    code: list[int] = []
    th = threading.Thread(target=lambda: code.append(r.run()), daemon=True)
    th.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for d in all_datagrams(s):
            tx.sendto(d, to)
        assert _done(s.ctl, 10) == [0]  # done: said at once, unasked
        # polled for 3 lingers (a POLL half a linger after each answer): each answered DONE,
        # the receiver still there
        for seq in range(1, 7):
            tx.sendto(s._control_dgram(MsgType.POLL, seq), to)
            assert _done(s.ctl, 10) == [seq]
            assert th.is_alive()
            time.sleep(LINGER / 2)
        th.join(LINGER + 10)  # no more POLLs: it ends on its own
        assert not th.is_alive() and code == [EXIT_COMPLETE]
    finally:
        tx.close()
        r.close()
        s.close()
