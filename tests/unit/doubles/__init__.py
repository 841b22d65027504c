"""Test doubles of porttest's seams, for fast unit tests of the layers above them."""
