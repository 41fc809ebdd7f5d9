"""Regression checks: compare result rows with a stored baseline under per-column rules
(rules.py), pure comparison (compare.py), command line (__main__.py)."""
