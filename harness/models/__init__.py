"""Models: where a model comes from (loading.py) and its architecture facts (architecture.py)."""
