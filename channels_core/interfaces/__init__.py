"""Interface servers: the only code that touches sockets."""
