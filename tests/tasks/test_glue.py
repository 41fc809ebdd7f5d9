"""GLUE loaders: the real SST-2 copy, small files in each task's original layout, bad input."""

from pathlib import Path

import pytest

from harness.errors import DataFormatError, MissingDataError
from harness.tasks import TASKS, get_task
from harness.tasks.glue import GLUE_TASKS, load_glue, load_local, subset

MNLI_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
               "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label")
STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"

# GLUE's own layouts (see ../shared/data/SOURCES.md): one train and one dev row per label
LAYOUTS = {
    "CoLA": {"train.tsv": "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n"
                          "gj04\t0\t*\tThe more books I ask to whom he will give, the more he reads.\n",
             "dev.tsv": "gj04\t1\t\tThey drank the pub dry.\ngj04\t0\t*\tThey drank the pub.",  # no final newline
             },
    "SST-2": {"train.tsv": "sentence\tlabel\nhide new secretions from the parental units \t0\ngreat fun \t1\n",
              "dev.tsv": "sentence\tlabel\nit 's a charming journey . \t1\nbad . \t0\n"},
    "MRPC": {"train.tsv": "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                          "1\t702876\t702977\tAmrozi accused his brother , whom he called \"the witness\" .\t"
                          "Referring to him as only \"the witness\" , Amrozi accused his brother .\n"
                          "0\t2108705\t2108831\tYucaipa owned Dominick 's .\tYucaipa bought Dominick 's in 1995 .\n",
             "dev.tsv": "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA b .\tA b !\n0\t3\t4\tC .\tD .\n"},
    "STS-B": {"train.tsv": f"{STSB_HEADER}\n0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\t"
                           "A plane is taking off.\tAn air plane is taking off.\t5.000\n"
                           "1\tmain-captions\tMSRvid\t2012test\t0004\tnone\tnone\tA man.\tA cat.\t0\n",
              "dev.tsv": f"{STSB_HEADER}\n0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\t"
                         "A man with a hard hat is dancing.\tA man wearing a hard hat is dancing.\t5.000\n"
                         "1\tmain-captions\tMSRvid\t2012test\t0002\tnone\tnone\tA b.\tC d.\t2.11111111111111\n"},
    "QQP": {"train.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                         "1\t1\t2\tHow do I learn Python?\tHow can I learn Python?\t1\n2\t3\t4\tWhy?\tWhere?\t0\n",
            "dev.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n3\t5\t6\tA?\tA?\t1\n4\t7\t8\tB?\tC?\t0\n"},
    "MNLI": {"train.tsv": f"{MNLI_HEADER}\n0\t1\t1e\tgov\t(a)\t(b)\t(A)\t(B)\tA man.\tA person.\tentailment\tentailment\n"
                         "1\t2\t2n\tgov\t(a)\t(b)\t(A)\t(B)\tA man.\tA tall man.\tneutral\tneutral\n"
                         "2\t3\t3c\tgov\t(a)\t(b)\t(A)\t(B)\tA man.\tNo one.\tcontradiction\tcontradiction\n",
             "dev_matched.tsv": f"{MNLI_HEADER}\n0\t1\t1e\tgov\t(a)\t(b)\t(A)\t(B)\tX.\tY.\tneutral\tneutral\n",
             "dev_mismatched.tsv": f"{MNLI_HEADER}\n0\t1\t1e\tgov\t(a)\t(b)\t(A)\t(B)\tX.\tZ.\tcontradiction\tcontradiction\n"},
    "QNLI": {"train.tsv": "index\tquestion\tsentence\tlabel\n0\tWho?\tHe did.\tentailment\n1\tWhen?\tRed.\tnot_entailment\n",
             "dev.tsv": "index\tquestion\tsentence\tlabel\n0\tWhat?\tThis.\tnot_entailment\n"},
    "RTE": {"train.tsv": "index\tsentence1\tsentence2\tlabel\n0\tA b c.\tA b.\tentailment\n1\tA.\tB.\tnot_entailment\n",
            "dev.tsv": "index\tsentence1\tsentence2\tlabel\n0\tDana Reeve died.\tChristopher Reeve had an accident.\tnot_entailment\n"},
    "WNLI": {"train.tsv": "index\tsentence1\tsentence2\tlabel\n0\tI stuck a pin.\tThe pin stuck.\t1\n1\tA.\tB.\t0\n",
             "dev.tsv": "index\tsentence1\tsentence2\tlabel\n0\tThe drain is clogged.\tThe hair is clogged.\t0\n"},
}

EXPECTED_TRAIN_LABELS = {"cola": [1, 0], "sst2": [0, 1], "mrpc": [1, 0], "stsb": [5.0, 0.0], "qqp": [1, 0],
                         "mnli": [0, 1, 2], "qnli": [0, 1], "rte": [0, 1], "wnli": [1, 0]}


@pytest.fixture()
def glue_layout(tmp_path: Path) -> Path:
    for folder, files in LAYOUTS.items():
        (tmp_path / folder).mkdir()
        for name, text in files.items():
            (tmp_path / folder / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_all_nine_tasks_are_registered():
    assert sorted(t for t in TASKS if t.startswith("glue/")) == sorted(f"glue/{t}" for t in
                                   ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"])


@pytest.mark.parametrize("name", sorted(GLUE_TASKS))
def test_each_task_reads_its_original_layout(glue_layout, name):
    task = GLUE_TASKS[name]
    data = load_local(task, glue_layout)
    assert [e.label for e in data.train] == EXPECTED_TRAIN_LABELS[name]
    assert all(e.text_a for e in data.train)
    pair = name not in ("cola", "sst2")
    assert all((e.text_b is not None) == pair for e in data.train)
    assert set(data.evals) == ({"dev_matched", "dev_mismatched"} if name == "mnli" else {"dev"})


def test_mrpc_byte_order_mark_and_quotes(glue_layout):
    data = load_local(GLUE_TASKS["mrpc"], glue_layout)
    assert data.train[0].text_a == 'Amrozi accused his brother , whom he called "the witness" .'


def test_stsb_scores_are_floats(glue_layout):
    data = load_local(GLUE_TASKS["stsb"], glue_layout)
    assert data.evals["dev"][1].label == pytest.approx(2.11111111111111)
    assert get_task("glue/stsb").num_labels == 1


def test_mnli_matched_and_mismatched_labels(glue_layout):
    data = load_local(GLUE_TASKS["mnli"], glue_layout)
    assert data.evals["dev_matched"][0].label == 1  # neutral
    assert data.evals["dev_mismatched"][0].label == 2  # contradiction


def test_real_sst2(glue_dir):
    data = load_glue(GLUE_TASKS["sst2"], glue_dir, "unused")
    assert len(data.train) == 67_349 and len(data.evals["dev"]) == 872
    assert sum(e.label for e in data.evals["dev"]) == 444  # positives in SST-2 dev
    assert data.train[0].text_a == "hide new secretions from the parental units "


def test_real_cola_dev_without_final_newline(glue_dir):
    data = load_local(GLUE_TASKS["cola"], glue_dir)
    assert len(data.evals["dev"]) == 1_043
    assert sum(e.label for e in data.evals["dev"]) == 721


def test_subset_is_seeded_and_capped(glue_dir):
    data = load_glue(GLUE_TASKS["sst2"], glue_dir, "unused", max_train=100, max_eval=50)
    again = load_glue(GLUE_TASKS["sst2"], glue_dir, "unused", max_train=100, max_eval=50)
    assert len(data.train) == 100 and len(data.evals["dev"]) == 50
    assert data.train == again.train
    assert subset([1, 2, 3], None) == [1, 2, 3]


def test_missing_folder_names_paths_and_fix(tmp_path):
    with pytest.raises(MissingDataError) as err:
        load_local(GLUE_TASKS["qqp"], tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "QQP" / "train.tsv") in msg and "data.glue_dir" in msg


def test_short_row_names_file_and_line(glue_layout):
    path = glue_layout / "RTE" / "train.tsv"
    path.write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tonly two\n")
    with pytest.raises(DataFormatError, match=r"RTE/train.tsv:3: expected 4 tab-separated fields, got 2"):
        load_local(GLUE_TASKS["rte"], glue_layout)


def test_bad_label_names_file_line_and_expected(glue_layout):
    path = glue_layout / "SST-2" / "train.tsv"
    path.write_text("sentence\tlabel\nfine\t1\nodd\tpositive\n")
    with pytest.raises(DataFormatError, match=r"SST-2/train.tsv:3: label 'positive' is not an integer in 0..1"):
        load_local(GLUE_TASKS["sst2"], glue_layout)


def test_missing_header_column(glue_layout):
    (glue_layout / "QNLI" / "dev.tsv").write_text("index\tquestion\tlabel\n0\tWho?\tentailment\n")
    with pytest.raises(DataFormatError, match=r"QNLI/dev.tsv:1: header lacks column\(s\) \['sentence'\]"):
        load_local(GLUE_TASKS["qnli"], glue_layout)


def test_empty_and_non_utf8_files(glue_layout):
    (glue_layout / "WNLI" / "dev.tsv").write_text("")
    with pytest.raises(DataFormatError, match="WNLI/dev.tsv: empty file"):
        load_local(GLUE_TASKS["wnli"], glue_layout)
    (glue_layout / "WNLI" / "dev.tsv").write_bytes(b"index\tsentence1\tsentence2\tlabel\n0\t\xff\xfe\tb\t0\n")
    with pytest.raises(DataFormatError, match="WNLI/dev.tsv: not UTF-8"):
        load_local(GLUE_TASKS["wnli"], glue_layout)
