"""Pure renderers: RunResult in, text out. Reporters never run anything."""
