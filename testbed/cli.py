"""The Mininet CLI with the testbed's own commands (see `help testbed`)."""

from __future__ import annotations

from typing import Any

from mininet.cli import CLI
from mininet.log import setLogLevel

from testbed.failures import LinkEvent
from testbed.network import Network


class TestbedCLI(CLI):
    prompt = "testbed> "

    def __init__(self, net: Network, **kwargs: Any) -> None:
        self.tb = net
        # the network is built quietly (tc's htb warnings); node commands print at "output"
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
        """fail LINK: pull the cable of a link (e.g. fail s1-s2)"""
        self._apply(self.tb.set_link, line.strip(), False)

    def do_restore(self, line: str) -> None:
        """restore LINK: plug a link back in"""
        self._apply(self.tb.set_link, line.strip(), True)

    def do_failswitch(self, line: str) -> None:
        """failswitch SWITCH: every link of a switch goes down"""
        self._apply(self.tb.set_switch, line.strip(), False)

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
            "testbed commands: fail LINK | restore LINK | failswitch SW | restoreswitch SW |\n"
            "  tables SW | switches | events      (links are named a-b, e.g. s1-s2)"
        )


def _describe(ev: LinkEvent) -> str:
    (a, pa), (b, pb) = ev.ends
    return f"{ev.time:.3f} {ev.link} {ev.kind} ({a} port {pa}, {b} port {pb}): {ev.cause}"
