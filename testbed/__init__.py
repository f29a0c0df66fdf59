"""The Mininet layer: brings a topology up with P4 switches, injects failures, tears down."""
