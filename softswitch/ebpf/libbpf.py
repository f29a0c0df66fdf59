"""The few libbpf (Debian's libbpf1, 1.1) calls the eBPF backend needs, through ctypes:
open and load an object, find its programs and maps, read and write map elements, and
attach programs to tc's clsact hooks (cls_bpf, direct action).

libbpf's messages (the verifier's log when a load fails) are collected per thread, not
printed, so that a failed load can name the verifier's complaint in its error.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import threading

BPF_TC_INGRESS = 1
BPF_TC_EGRESS = 2
BPF_TC_F_REPLACE = 1
BPF_ANY = 0


class LibbpfError(OSError):
    pass


class TcHook(ctypes.Structure):
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("ifindex", ctypes.c_int),
        ("attach_point", ctypes.c_int),
        ("parent", ctypes.c_uint32),
    ]


class TcOpts(ctypes.Structure):
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("prog_fd", ctypes.c_int),
        ("flags", ctypes.c_uint32),
        ("prog_id", ctypes.c_uint32),
        ("handle", ctypes.c_uint32),
        ("priority", ctypes.c_uint32),
    ]


PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_messages = threading.local()


@functools.cache
def lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        so = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise LibbpfError(errno.ENOENT, f"libbpf is not installed ({exc})") from None
    vp, cp, i, u64 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint64
    for fn, res, args in (
        ("bpf_object__open_file", vp, [cp, vp]),
        ("bpf_object__load", i, [vp]),
        ("bpf_object__close", None, [vp]),
        ("bpf_object__find_program_by_name", vp, [vp, cp]),
        ("bpf_program__fd", i, [vp]),
        ("bpf_object__find_map_by_name", vp, [vp, cp]),
        ("bpf_map__fd", i, [vp]),
        ("bpf_map__key_size", ctypes.c_uint32, [vp]),
        ("bpf_map__value_size", ctypes.c_uint32, [vp]),
        ("bpf_map__max_entries", ctypes.c_uint32, [vp]),
        ("bpf_map_update_elem", i, [i, vp, vp, u64]),
        ("bpf_map_lookup_elem", i, [i, vp, vp]),
        ("bpf_map_delete_elem", i, [i, vp]),
        ("libbpf_num_possible_cpus", i, []),
        ("bpf_tc_hook_create", i, [vp]),
        ("bpf_tc_hook_destroy", i, [vp]),
        ("bpf_tc_attach", i, [vp, vp]),
        ("libbpf_set_print", vp, [PRINT_FN]),
    ):
        f = getattr(so, fn)
        f.restype = res
        f.argtypes = args
    so.libbpf_set_print(_PRINT)
    return so


@functools.cache
def _libc() -> ctypes.CDLL:
    c = ctypes.CDLL(None)
    c.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
    return c


def _print(level: int, fmt: bytes, args: int) -> int:
    buf = ctypes.create_string_buffer(4096)
    _libc().vsnprintf(buf, len(buf), fmt, args)
    msgs = getattr(_messages, "lines", None)
    if msgs is not None:
        msgs.append(buf.value.decode(errors="replace"))
    return 0


_PRINT = PRINT_FN(_print)


def _fail(what: str, rc: int | None = None) -> LibbpfError:
    code = -rc if rc is not None and rc < 0 else ctypes.get_errno()
    return LibbpfError(code, f"{what}: {os.strerror(code) if code else 'failed'}")


@functools.cache
def possible_cpus() -> int:
    n = lib().libbpf_num_possible_cpus()
    if n <= 0:
        raise _fail("libbpf_num_possible_cpus", n)
    return n


class Map:
    """One BPF map by fd: elements as bytes (per-CPU maps: one value per possible CPU)."""

    def __init__(
        self, name: str, fd: int, key_size: int, value_size: int, max_entries: int, percpu: bool
    ) -> None:
        self.name = name
        self.fd = fd
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.percpu = percpu
        self.stride = (value_size + 7) // 8 * 8

    def _key(self, key: bytes) -> ctypes.Array:
        if len(key) != self.key_size:
            raise ValueError(f"map {self.name}: key of {len(key)} bytes, expected {self.key_size}")
        return ctypes.create_string_buffer(key, len(key))

    def update(self, key: bytes, value: bytes | list[bytes]) -> None:
        if self.percpu:
            vals = value if isinstance(value, list) else [value] * possible_cpus()
            raw = b"".join(v.ljust(self.stride, b"\0") for v in vals)
        else:
            assert isinstance(value, bytes)
            raw = value
            if len(raw) != self.value_size:
                raise ValueError(
                    f"map {self.name}: value of {len(raw)} bytes, expected {self.value_size}"
                )
        vbuf = ctypes.create_string_buffer(raw, len(raw))
        rc = lib().bpf_map_update_elem(self.fd, self._key(key), vbuf, BPF_ANY)
        if rc < 0:
            raise _fail(f"updating map {self.name}", rc)

    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        n = self.stride * possible_cpus() if self.percpu else self.value_size
        vbuf = ctypes.create_string_buffer(n)
        rc = lib().bpf_map_lookup_elem(self.fd, self._key(key), vbuf)
        if rc < 0:
            if -rc == errno.ENOENT or ctypes.get_errno() == errno.ENOENT:
                return None
            raise _fail(f"reading map {self.name}", rc)
        raw = vbuf.raw
        if self.percpu:
            return [
                raw[i * self.stride : i * self.stride + self.value_size]
                for i in range(possible_cpus())
            ]
        return raw

    def delete(self, key: bytes) -> bool:
        rc = lib().bpf_map_delete_elem(self.fd, self._key(key))
        if rc < 0:
            if -rc == errno.ENOENT or ctypes.get_errno() == errno.ENOENT:
                return False
            raise _fail(f"deleting from map {self.name}", rc)
        return True


PERCPU_MAPS = {"ss_work", "ss_cont", "ss_dcount", "ss_counters", "ss_stats"}


class BpfObject:
    """A loaded BPF object file. close() releases programs and maps (the kernel frees them
    once no tc filter holds them any more)."""

    def __init__(self, path: str) -> None:
        so = lib()
        _messages.lines = []
        try:
            obj = so.bpf_object__open_file(path.encode(), None)
            if not obj:
                raise _fail(f"opening BPF object {path}")
            rc = so.bpf_object__load(obj)
            if rc < 0:
                log = "\n".join(_messages.lines[-40:])
                so.bpf_object__close(obj)
                raise LibbpfError(
                    -rc, f"the kernel refused the BPF program ({os.strerror(-rc)}):\n{log}"
                )
        finally:
            _messages.lines = None
        self._obj = obj

    def program_fd(self, name: str) -> int:
        p = lib().bpf_object__find_program_by_name(self._obj, name.encode())
        if not p:
            raise LibbpfError(errno.ENOENT, f"no BPF program {name}")
        return int(lib().bpf_program__fd(p))

    def map(self, name: str) -> Map:
        so = lib()
        m = so.bpf_object__find_map_by_name(self._obj, name.encode())
        if not m:
            raise LibbpfError(errno.ENOENT, f"no BPF map {name}")
        return Map(
            name,
            int(so.bpf_map__fd(m)),
            int(so.bpf_map__key_size(m)),
            int(so.bpf_map__value_size(m)),
            int(so.bpf_map__max_entries(m)),
            name in PERCPU_MAPS,
        )

    def close(self) -> None:
        if self._obj:
            lib().bpf_object__close(self._obj)
            self._obj = None


def tc_attach(ifindex: int, ingress_fd: int, egress_fd: int) -> None:
    """clsact on the interface (kept if there), our programs as its cls_bpf filters."""
    so = lib()
    hook = TcHook(ctypes.sizeof(TcHook), ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS, 0)
    rc = so.bpf_tc_hook_create(ctypes.byref(hook))
    if rc < 0 and -rc != errno.EEXIST:
        raise _fail(f"adding clsact to interface {ifindex}", rc)
    for point, fd in ((BPF_TC_INGRESS, ingress_fd), (BPF_TC_EGRESS, egress_fd)):
        h = TcHook(ctypes.sizeof(TcHook), ifindex, point, 0)
        opts = TcOpts(ctypes.sizeof(TcOpts), fd, BPF_TC_F_REPLACE, 0, 1, 1)
        rc = so.bpf_tc_attach(ctypes.byref(h), ctypes.byref(opts))
        if rc < 0:
            raise _fail(f"attaching the BPF program to interface {ifindex}", rc)


def tc_detach(ifindex: int) -> None:
    """Remove the clsact qdisc (and with it our filters); a vanished interface is fine."""
    hook = TcHook(ctypes.sizeof(TcHook), ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS, 0)
    lib().bpf_tc_hook_destroy(ctypes.byref(hook))
