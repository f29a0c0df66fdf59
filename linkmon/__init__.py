"""Switch-local link monitoring: interface state over rtnetlink, a BFD-like liveness
protocol on switch-to-switch ports, the resulting port status, and the gNMI service that
tells a controller about it (README.md)."""
