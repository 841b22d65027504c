"""The command line: argv -> api calls -> output and the documented exit code. No logic of its own."""
