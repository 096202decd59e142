"""Executors: eager (every op allocates its result) and compiled (one static plan)."""
