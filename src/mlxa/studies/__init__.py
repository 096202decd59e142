"""The case studies of graph-to-silicon: each a module (fusion, quantization, layout, sparsity,
kernels) that measures one compiler technique on this machine and returns typed data."""
