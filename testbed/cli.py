"""The Mininet CLI with the testbed's own commands (see `help testbed`)."""

from __future__ import annotations

from typing import Any

from mininet.cli import CLI
from mininet.log import setLogLevel

from testbed.failures import LinkEvent, Mode
from testbed.network import Network


class TestbedCLI(CLI):
    prompt = "testbed> "

    def __init__(self, net: Network, **kwargs: Any) -> None:
        self.tb = net
        # the network is built quietly (Mininet's progress lines); node commands print at "output"
        setLogLevel("output")
        super().__init__(net.net, **kwargs)

    def _out(self, text: str) -> None:
        self.stdout.write(text.rstrip("\n") + "\n")

    def _apply(self, fn: Any, *args: Any) -> None:
        try:
            result = fn(*args)
        except (KeyError, RuntimeError, ValueError) as e:
            self._out(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}")
            return
        events = result if isinstance(result, list) else [result]
        for ev in events:
            self._out(_describe(ev))

    def do_fail(self, line: str) -> None:
        """fail LINK [silent]: pull the cable of a link (e.g. fail s1-s2), or with `silent`
        make both ends drop everything while carrier stays up"""
        name, mode = _name_mode(line)
        self._apply(lambda: self.tb.set_link(name, False, mode=mode))

    def do_restore(self, line: str) -> None:
        """restore LINK: plug a link back in"""
        self._apply(self.tb.set_link, line.strip(), True)

    def do_failswitch(self, line: str) -> None:
        """failswitch SWITCH [silent]: every link of a switch goes down (or silent)"""
        name, mode = _name_mode(line)
        self._apply(lambda: self.tb.set_switch(name, False, mode=mode))

    def do_restoreswitch(self, line: str) -> None:
        """restoreswitch SWITCH: every link of a switch comes back"""
        self._apply(self.tb.set_switch, line.strip(), True)

    def do_tables(self, line: str) -> None:
        """tables SWITCH: the switch's tables, as the control plane reads them"""
        self._out(self.tb.dump_tables(line.strip()))

    def do_switches(self, _line: str) -> None:
        """switches: each switch's target, device id, P4Runtime address and ports"""
        for s in self.tb.switches():
            ports = " ".join(f"{p}:{i.intf}->{i.peer}" for p, i in s.ports.items())
            self._out(f"{s.name} ({s.target}) id {s.device_id} {s.grpc_addr or '-'}  {ports}")

    def do_events(self, _line: str) -> None:
        """events: the link events applied so far"""
        for ev in self.tb.events:
            self._out(_describe(ev))

    def help_testbed(self) -> None:
        self._out(
            "testbed commands: fail LINK [silent] | restore LINK | failswitch SW [silent] |\n"
            "  restoreswitch SW | tables SW | switches | events   (links are named a-b, e.g. s1-s2)"
        )


def _name_mode(line: str) -> tuple[str, Mode]:
    """'s1-s2 silent' -> ('s1-s2', 'silent'); the mode defaults to carrier."""
    words = line.split()
    name = words[0] if words else ""
    mode = words[1] if len(words) > 1 else "carrier"
    return name, mode  # type: ignore[return-value]  (Network checks it)


def _describe(ev: LinkEvent) -> str:
    (a, pa), (b, pb) = ev.ends
    return f"{ev.time:.3f} {ev.link} {ev.kind} ({a} port {pa}, {b} port {pb}): {ev.cause}"
