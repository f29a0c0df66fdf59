"""P4Runtime server for softswitch: translation between P4Runtime protobuf messages and the
in-process API (softswitch.api), client arbitration, packet I/O over the stream channel, and
the gRPC servicer that ties them together."""
