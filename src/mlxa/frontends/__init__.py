"""Frontends: models from other formats (ONNX, torch) into the graph IR, and back out."""
