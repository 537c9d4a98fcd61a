"""Brian2 in and out: one builder of Brian2 objects, precise timing, reading a user's network, exporting one."""
