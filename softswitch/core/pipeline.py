"""The generated per-frame functions: PIPELINE, EGRESS and REPLICATE (controls inlined)."""

from __future__ import annotations

from softswitch.core.gen import py_attr
from softswitch.core.types import Stack, Struct


class Pipeline:
    """Per-frame function generation, mixed into Compiler."""

    def inline(self, role: str, args: list[str]) -> list[str]:
        """A control's body for inlining into the pipeline: parameters bound to the
        pipeline's variables; `return` leaves a one-iteration loop."""
        ps, lines = self.inline_blocks[role]
        out = [f"{p} = {a}" for p, a in zip(ps, args, strict=True)]
        if any(line.strip() == "return" for line in lines):
            out.append("for _once in ONCE:")
            out += [
                "    " + (ln.replace("return", "break") if ln.strip() == "return" else ln)
                for ln in lines
            ]
            out.append("    pass")
        else:
            out += lines
        return out

    def gen_pipeline(self, blocks: dict[str, str], hdr_t: Struct, meta_t: Struct) -> None:
        """PIPELINE: one ingress pass of a frame with verify, ingress, egress and compute
        inlined; EGRESS: one replica's egress. Anything but plain unicast (clone, resubmit,
        multicast, recirculation, truncation, drop in egress) goes back to the Switch (rt)."""
        o = self.out
        o("def PIPELINE(frame, port, itype, old_meta, fl, out, rt):")
        o.ind += 1
        # the three structs are created inline (no __init__ call)
        sm_t = self.types["standard_metadata_t"]
        given = {"ingress_port": "port", "instance_type": "itype", "packet_length": "len(frame)"}
        for var, t in (("sm", sm_t), ("hdr", hdr_t), ("meta", meta_t)):
            o(f"{var} = _new({t.py})")
            for n, init in self.struct_slots[id(t)]:
                o(f"{var}.{n} = {given.get(n, init) if var == 'sm' else init}")
        o("if fl is not None: rt.preserve(old_meta, fl, meta)")
        o("_sm = sm")
        o("_pkt = frame")
        ps, lines = self.inline_blocks["parser"]
        for p, a in zip(ps, ["hdr", "meta", "sm"], strict=True):
            o(f"{p} = {a}")
        for line in lines[:-1]:  # the last line is `return off`
            o(line.replace("return off", "break") if line.strip() == "return off" else line)
        for line in self.inline("verify", ["hdr", "meta"]):
            o(line)
        for line in self.inline("ingress", ["hdr", "meta", "sm"]):
            o(line)
        checks = [f"sm.{h} is not None" for h in ("_clone", "_resub") if h in self.hidden_used]
        o(f"if {' or '.join([*checks, 'sm.mcast_grp'])}:")
        o("    return rt.after_ingress(frame, off, sm, hdr, meta, out)")
        o("port = sm.egress_spec")
        o("if port == 511: return None")
        o("sm.instance_type = 0; sm.egress_port = port; sm.egress_spec = 0")
        self.gen_egress_tail(blocks, "frame[off:]")
        o.ind -= 1
        o("def EGRESS(port, hdr, meta, sm, payload, out, rt):")
        o.ind += 1
        n0 = len(o.lines)
        o("_sm = sm")
        o("sm.egress_port = port; sm.egress_spec = 0")
        self.gen_egress_tail(blocks, "payload")
        body = [ln[4:] for ln in o.lines[n0:]]
        o.ind -= 1
        # REPLICATE: the replicas of a multicast group, EGRESS inlined into the loop
        o("def REPLICATE(nodes, hdr0, meta0, sm0, payload, out, rt):")
        o("    for rid, ports in nodes:")
        o("        for port in ports:")
        # the copies are written out (no _copy() calls): one per replica adds up
        sm_t = self.types["standard_metadata_t"]
        for var, t in (("sm", sm_t), ("hdr", hdr_t), ("meta", meta_t)):
            slots = self.struct_slots[id(t)]
            if not slots:
                o(f"            {var} = {var}0")  # nothing in it can change
                continue
            o(f"            {var} = _new({t.py})")
            types = {py_attr(f): ft for f, ft in t.fields}
            for n, _ in slots:
                composite = isinstance(types.get(n), Struct | Stack)
                o(f"            {var}.{n} = {var}0.{n}{'._copy()' if composite else ''}")
        o("            sm.egress_rid = rid")
        for ln in body:
            stripped = ln.strip()
            ind = ln[: len(ln) - len(ln.lstrip())]
            if stripped == "return None":
                o.lines.append("            " + ind + "continue")
            elif stripped.startswith("return rt.finish_egress("):
                o.lines.append("            " + ind + stripped[len("return ") :])
                o.lines.append("            " + ind + "continue")
            else:
                o.lines.append("            " + ln)

    def gen_egress_tail(self, blocks: dict[str, str], payload: str) -> None:
        o = self.out
        for line in self.inline("egress", ["hdr", "meta", "sm"]):
            o(line)
        hidden = ("_clone", "_recirc", "_trunc")
        checks = [f"sm.{h} is not None" for h in hidden if h in self.hidden_used]
        o(f"if {' or '.join([*checks, 'sm.egress_spec == 511'])}:")
        o(f"    return rt.finish_egress(port, hdr, meta, sm, {payload}, out, 0)")
        for line in self.inline("compute", ["hdr", "meta"]):
            o(line)
        ps, lines = self.inline_blocks["deparser"]
        o(f"{ps[0]} = hdr")
        o(f"_payload = {payload}")
        for line in lines[:-1]:  # the last line returns the frame
            o(line)
        o("out.append((port, b''.join(_out)))")
        o("return None")
