"""PIM-SM baseline: every topology switch as a Linux router in its own namespace running FRR
(zebra, OSPF, pimd, optional BFD), kernel multicast forwarding, and measurements of it."""
