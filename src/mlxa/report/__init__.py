"""Renderers: functions from a run's data (session.analyze's dict) to text, JSON and files."""
