"""The run record: one row per run (schema.py), written and read as Parquet (store.py)."""
