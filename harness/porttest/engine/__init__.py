"""The parent's I/O with Docker engines: connect, image resolve and ship, containers, sessions, probes."""
