"""Measurement: parameters (params.py), memory (memory.py),
time and throughput (throughput.py), inference overhead (latency.py)."""
