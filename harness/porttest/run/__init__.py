"""A run: every environment in parallel, each through its phases, with a pytest child per environment."""
