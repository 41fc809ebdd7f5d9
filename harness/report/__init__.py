"""Reports: pure functions from the results DataFrame to tables (tables/), rendered as
Markdown and self-contained HTML (render.py), with plots (plots.py) and the published
reference tables beside them (references.py)."""
