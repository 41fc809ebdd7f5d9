"""Property: whatever bytes a data file holds, the loaders answer with their documented
one-line errors (DataFormatError / MissingDataError) or with examples, never a traceback."""

import string

from hypothesis import HealthCheck, given, settings, strategies as st

from harness.errors import DataFormatError, MissingDataError
from harness.tasks.glue import GLUE_TASKS, load_local
from harness.tasks.instruct import read_records

cells = st.text(alphabet=string.printable + "éß中\t\"'", max_size=12)
lines = st.lists(st.lists(cells, max_size=6).map("\t".join), max_size=6).map("\n".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task=st.sampled_from(sorted(GLUE_TASKS)), train=lines, dev=st.binary(max_size=80))
def test_glue_loader_only_raises_documented_errors(tmp_path_factory, task, train, dev):
    root = tmp_path_factory.mktemp("glue")
    spec = GLUE_TASKS[task]
    (root / spec.dir_name).mkdir()
    (root / spec.dir_name / "train.tsv").write_text(train, encoding="utf-8")
    for name in spec.dev_splits.values():
        (root / spec.dir_name / name).write_bytes(dev)
    try:
        data = load_local(spec, root)
    except (DataFormatError, MissingDataError) as exc:
        assert "\n" not in str(exc) and str(root) in str(exc)
    else:
        assert data.train


json_like = st.one_of(st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
                      st.lists(st.sampled_from(['{"question": "q", "answer": "a"}', '{"question": 1, "answer": "a"}',
                                                "[", "]", "{}", "null", '"x"', '{"q": 2}', ""]), max_size=5)
                      .map("\n".join))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=json_like, fmt=st.sampled_from(["gsm8k", "alpaca", "belle"]))
def test_jsonl_reader_only_raises_documented_errors(tmp_path_factory, text, fmt):
    path = tmp_path_factory.mktemp("j") / "data.jsonl"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        records = read_records(str(path), fmt)
    except (DataFormatError, MissingDataError) as exc:
        assert "\n" not in str(exc)
    else:
        assert records
