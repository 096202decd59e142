"""Frontends: importers that turn models from other frameworks (PyTorch, ONNX) into mlxa graphs,
and exporters back. Each imports its framework inside itself, so the core needs numpy only."""
