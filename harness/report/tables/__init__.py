"""Report tables: each module has `build(df) -> Report`, a pure function of the results.

Adding a table = one module here plus one entry in TABLES.
"""

from __future__ import annotations

from harness.report.tables import (belle_lora_vs_ft, glue_methods, memory_speed, method_properties,
                                   param_accounting, predicted_vs_published)

TABLES = {
    "glue_methods": glue_methods.build,
    "belle_lora_vs_ft": belle_lora_vs_ft.build,
    "memory_speed": memory_speed.build,
    "param_accounting": param_accounting.build,
    "method_properties": method_properties.build,
    "predicted_vs_published": predicted_vs_published.build,
}
