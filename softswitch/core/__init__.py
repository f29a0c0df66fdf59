"""softswitch core: P4_16 front end, v1model execution and P4Info generation."""
