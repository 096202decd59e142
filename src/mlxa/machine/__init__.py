"""What this machine is and can do: CPU model and flags, BLAS library and kernels."""
