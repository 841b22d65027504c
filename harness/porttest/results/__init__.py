"""PURE: the results model, verdicts and their explanations, merge/compare, and redaction of secrets."""
