"""softswitch's eBPF backend: the programs the front end (softswitch.core) checks, emitted as
C for tc-BPF, built with clang and run in the kernel on the switch's ports; the control plane
stays the Python backend's. softswitch/README.md, "eBPF backend", describes it."""
