"""A local lab of real engines for porttest's tests and for trying remote features on one machine."""
