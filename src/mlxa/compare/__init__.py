"""Side by side with real compilers: the same graph handed to XLA (through JAX) and to onnx-tool,
their memory figures read next to ours. Each adapter imports its compiler lazily."""
