"""peft-bench: a benchmark harness for parameter-efficient fine-tuning.

Data flows one way: conf/ -> run (harness.run) -> one result row (harness.record)
-> Parquet in results/ -> report builders (harness.report) and regression checks
(harness.regress).
"""

__version__ = "0.1.0"
