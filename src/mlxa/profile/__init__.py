"""Measurement: latency over repeats, memory of one inference."""
