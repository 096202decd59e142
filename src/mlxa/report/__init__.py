"""Renderers: functions from a run's typed data (result.RunResult) to text, JSON, pictures and
files."""
