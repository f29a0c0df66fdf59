"""P4Runtime server for softswitch: translation between P4Runtime protobuf messages and the
entry types (softswitch.entries), client arbitration, packet I/O over the stream channel, the
device that drives an execution backend (softswitch.backend), and the gRPC servicer that ties
them together."""
