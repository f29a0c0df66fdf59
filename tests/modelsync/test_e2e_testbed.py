"""End to end in Mininet with softswitch and the control plane: a model delivered from the
store host h1 to the GPU hosts h2, h3, h4 of the diamond topology over unicast, BIER and
SR-P2MP; every file verified on every host (sha256 against the manifest). BIER also with a
link failure in the middle of the transfer."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import secrets
import socket
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelsync.manifest import Manifest, sha256_file
from modelsync.records import ReceiverRecord, SenderRecord

from .helpers import small_model

REPO = Path(__file__).resolve().parents[2]
SIZE = int(os.environ.get("MODELSYNC_E2E_BYTES", "2000000"))  # 16 MB: MODELSYNC_E2E_BYTES=16e6
RATE = "8"  # Mbit/s: what a softswitch path carries without loss of its own

pytestmark = [
    pytest.mark.root,
    pytest.mark.mininet,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("softswitch.__main__") is None, reason="softswitch has no CLI"
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("controlplane.controller") is None
        or importlib.util.find_spec("testbed.network") is None,
        reason="needs controlplane.controller and testbed.network",
    ),
]


def _grpc_base() -> int:
    for _ in range(50):
        base = random.randrange(20000, 40000)
        try:
            for p in range(base + 1, base + 11):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    pytest.skip("no free block of TCP ports")


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    d = tmp_path_factory.mktemp("msd-build")
    out = {}
    for name in ("bier", "sr_p2mp"):
        cfg, p4info = d / f"{name}.json", d / f"{name}.p4info.txtpb"
        r = subprocess.run(
            [sys.executable, "-m", "softswitch.compile", str(REPO / "p4src" / f"{name}.p4"),
             "--device-config", str(cfg), "--p4info", str(p4info)],
            cwd=REPO, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if r.returncode != 0:
            pytest.skip(f"softswitch.compile cannot build p4src/{name}.p4: {r.stderr[-300:]}")
        out[name] = (cfg, p4info)
    return out


def _receive(net, host: str, m_dir: Path, tmp: Path, sender_ip: str):  # type: ignore[no-untyped-def]
    log = open(tmp / f"{host}.log", "wb")  # noqa: SIM115 (closed with the process)
    return net.host(host).popen(
        [sys.executable, "-m", "modelsync", "receive",
         "--manifest", str(m_dir / "modelsync.manifest.json"), "--out", str(tmp / host),
         "--sender", sender_ip, "--name", host, "--deadline", "120", "--linger", "2",
         "--record", str(tmp / f"{host}.json")],
        cwd=str(REPO), stdout=log, stderr=log,
    )  # fmt: skip


def _wait_listening(tmp: Path, hosts: list[str]) -> None:
    for h in hosts:
        for _ in range(600):
            if "listening on" in (tmp / f"{h}.log").read_text():
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"{h} never started:\n{(tmp / f'{h}.log').read_text()}")


def _verified(tmp: Path, m: Manifest, hosts: list[str]) -> None:
    for h in hosts:
        rec = ReceiverRecord.model_validate_json((tmp / f"{h}.json").read_text())
        assert rec.outcome == "complete", (h, rec.error)
        for f in m.files:
            assert sha256_file(tmp / h / f.name) == f.sha256, (h, f.name)


@pytest.mark.parametrize(
    ("technology", "failure"),
    [
        ("unicast", False),
        ("bier", False),
        ("sr-p2mp", False),
        ("unicast", True),
        ("bier", True),
        ("sr-p2mp", True),
    ],
)
def test_delivery_over_p4_switches(
    tmp_path: Path, programs: dict[str, tuple[Path, Path]], technology: str, failure: bool
) -> None:
    import topologies
    from controlplane.client import Fabric, SwitchConn
    from controlplane.controller import Controller
    from testbed.network import Network
    from topologies import generators as gen
    from topologies.model import switch_port_mac

    topo = topologies.from_dict(gen.fixed("diamond"))
    gpus = [h.name for h in topo.gpu_hosts()]
    store = topo.model_stores()[0].name
    m_dir = tmp_path / "model"
    m = small_model(m_dir, SIZE, 2, seed=8)
    cfg, p4info = programs["sr_p2mp" if technology == "sr-p2mp" else "bier"]
    prefix = "m" + secrets.choice(string.digits) + secrets.choice(string.ascii_lowercase)
    state = tmp_path / "state"
    state.mkdir()
    net = Network(topo, "softswitch", cfg, prefix=prefix, grpc_port_base=_grpc_base(),
                  state_dir=state)  # fmt: skip
    loop = asyncio.new_event_loop()
    procs = []
    try:
        net.start()
        fab = Fabric(
            [SwitchConn(s.name, s.grpc_addr or "", s.device_id) for s in net.switches()],
            p4info,
            cfg,
        )
        loop.run_until_complete(fab.open())
        sids: list[int] = []
        sid_file = tmp_path / "root-sid"

        def handover(sid: int) -> None:  # the SR controller's make-before-break hand-off
            sids.append(sid)
            sid_file.write_text(f"{sid}\n")

        ctl = Controller(topo, fab, technology, on_root_sid=handover)
        loop.run_until_complete(ctl.install(sender=store, receivers=gpus))
        sw, port, _ = topo.host_attachment(store)
        rx = [{"name": h, "ip": str(topo.host(h).ip)} for h in gpus]
        if technology == "bier":
            assert ctl.desired is not None and ctl.desired.bier is not None
            for r in rx:
                r["bfr_id"] = ctl.desired.bier.ids[r["name"]]
        (tmp_path / "rx.json").write_text(json.dumps(rx))
        procs = [_receive(net, h, m_dir, tmp_path, str(topo.host(store).ip)) for h in gpus]
        _wait_listening(tmp_path, gpus)
        args = [
            sys.executable, "-m", "modelsync", "send", "--model", str(m_dir),
            "--receivers", str(tmp_path / "rx.json"), "--technology", technology,
            "--src-ip", str(topo.host(store).ip), "--rate", RATE, "--deadline", "120",
            "--record", str(tmp_path / "sender.json"), "--no-progress",
        ]  # fmt: skip
        if technology in ("bier", "sr-p2mp"):
            args += ["--iface", "eth0", "--dst-mac",
                     switch_port_mac(topo.switch(sw).device_id, port)]  # fmt: skip
        if technology == "bier":
            args += ["--bfir-id", "0"]
        if technology == "sr-p2mp":
            assert sids, "the control plane handed no root SID over"
            args += ["--root-sid-file", str(sid_file)]
        slog = open(tmp_path / "sender.log", "wb")  # noqa: SIM115
        snd = net.host(store).popen(args, cwd=str(REPO), stdout=slog, stderr=slog)
        procs.append(snd)
        cut_at = None
        if failure:
            # Cut the primary path s2-s4 while the first pass runs; tell the control plane.
            events: list = []
            net.subscribe(events.append)
            for _ in range(600):
                if "first pass:" in (tmp_path / "sender.log").read_text():
                    break
                time.sleep(0.05)
            time.sleep(0.5)
            cut_at = time.time()
            net.set_link("s2-s4", up=False)
            for ev in list(events):
                loop.run_until_complete(ctl.on_link_event(ev.link, up=ev.kind == "up"))
        code = snd.wait(300)
        logs = "\n".join(p.read_text()[-2000:] for p in tmp_path.glob("*.log"))
        assert code == 0, logs
        for p in procs[:-1]:
            assert p.wait(60) == 0, logs
        loop.run_until_complete(fab.close())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        net.stop()
        loop.close()
    _verified(tmp_path, m, gpus)
    rec = SenderRecord.model_validate_json((tmp_path / "sender.json").read_text())
    assert rec.outcome == "complete" and all(r.state == "done" for r in rec.receivers)
    c = rec.counters
    if technology == "unicast":
        assert c.first_pass_copies == len(gpus) * rec.chunks
    else:  # one copy per chunk leaves the store host
        assert c.first_pass_copies == rec.chunks
    (tmp_path / "sender.json").rename(tmp_path / f"sender-{technology}-{failure}.json")
    if cut_at is not None:  # the cut fell inside the first pass, and all still verified
        assert rec.first_packet_at is not None and rec.first_pass_done_at is not None
        assert rec.first_packet_at < cut_at < rec.first_pass_done_at
        if technology == "sr-p2mp":  # a new tree instance was handed over and followed
            assert len(sids) == 2
            assert c.root_sid_changes == (1 if sids[1] != sids[0] else 0)
