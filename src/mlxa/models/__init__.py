"""The zoo: built-in models defined in the IR with deterministic weights."""
