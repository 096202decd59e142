"""`mlxa sweep`: a grid of runs on a Dask cluster into one DuckDB store.

grid.py (the cells and their keys), cell.py (one cell, run on a worker), cluster.py (a local
cluster or a scheduler's), dispatch.py (submit, gather, retry, write each cell as it finishes),
store.py (the DuckDB store), report.py (table, PNGs, Parquet, HTML). Dask and DuckDB are
imported inside the functions that use them: `import mlxa.sweep` needs numpy alone.
"""
