"""Instruction data: formats, response-only loss masking, GSM8K and BELLE scorers."""

import json

import pytest

from harness.errors import DataFormatError, MissingDataError
from harness.models import loading
from harness.tasks import scoring
from harness.tasks.instruct import ALPACA_PROMPT, Record, encode_sft, prompt_text, read_records
from tests.conftest import GLUE_DIR, make_cfg

DATA = GLUE_DIR.parent


@pytest.fixture(scope="module")
def tokenizer():
    return loading.load_tokenizer(make_cfg("model=llama_ladder_xs").model)


def test_reads_json_array_and_json_lines_by_content():
    alpaca = read_records(str(DATA / "instruct" / "alpaca_en_demo.json"), "alpaca")
    assert len(alpaca) == 999 and sum(1 for r in alpaca if r.input) == 412
    belle = read_records(str(DATA / "belle_eval" / "eval_set.json"), "belle")  # JSON lines despite the name
    assert len(belle) == 1000 and sum(1 for r in belle if r.category == "math") == 75
    gsm = read_records(str(DATA / "gsm8k" / "test.jsonl"), "gsm8k")
    assert len(gsm) == 1319


def test_malformed_files_name_the_file_and_place(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a", "answer": "b"}\n{"question": \n')
    with pytest.raises(DataFormatError, match=r"bad.jsonl:2: invalid JSON line"):
        read_records(str(bad), "gsm8k")
    bad.write_text('{"question": "a"}\n')
    with pytest.raises(DataFormatError, match=r"bad.jsonl: record 1: expected fields \['question', 'answer'\]"):
        read_records(str(bad), "gsm8k")
    bad.write_text("")
    with pytest.raises(DataFormatError, match="empty file"):
        read_records(str(bad), "gsm8k")
    with pytest.raises(MissingDataError):
        read_records(str(tmp_path / "absent.json"), "alpaca")


def test_loss_only_on_response_tokens(tokenizer):
    record = Record("Add 2 and 3.", "", "5")
    enc = encode_sft(tokenizer, [record], max_length=512)
    ids, labels = enc.input_ids[0], enc.labels[0]
    prompt_ids = [tokenizer.bos_token_id] + tokenizer(prompt_text(tokenizer, record), add_special_tokens=False)["input_ids"]
    response_ids = tokenizer("5", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert ids == prompt_ids + response_ids
    for position, (token, label) in enumerate(zip(ids, labels)):
        if position < len(prompt_ids):
            assert label == -100, position
        else:
            assert label == token, position
    assert prompt_text(tokenizer, record) == ALPACA_PROMPT.format(instruction="Add 2 and 3.")


def test_examples_without_room_for_a_response_are_dropped(tokenizer):
    long = Record("word " * 200, "", "answer")
    short = Record("hi", "", "there")
    enc = encode_sft(tokenizer, [long, short], max_length=32)
    assert len(enc.input_ids) == 1
    with pytest.raises(DataFormatError, match="max_seq_length=32"):
        encode_sft(tokenizer, [long], max_length=32)


def test_packing_fills_blocks(tokenizer):
    records = [Record(f"q{i}", "", f"a{i}") for i in range(20)]
    enc = encode_sft(tokenizer, records, max_length=64, packing=True)
    assert all(len(x) == 64 for x in enc.input_ids)


def test_gsm8k_final_number_on_real_lines():
    lines = (DATA / "gsm8k" / "test.jsonl").read_text().splitlines()[:3]
    answers = [json.loads(line)["answer"] for line in lines]
    assert [scoring.final_number(a) for a in answers] == ["18", "3", "70000"]
    assert scoring.exact_match("She makes $18 every day.", answers[0]) == 1.0
    assert scoring.exact_match("The answer is 18.5", answers[0]) == 0.0
    assert scoring.exact_match("so #### 70,000", answers[2]) == 1.0  # thousands separator
    assert scoring.exact_match("no number here", answers[1]) == 0.0


def test_rouge_l_counts_chinese_characters():
    assert scoring.rouge_l("北京是中国的首都", "中国的首都是北京") == pytest.approx(2 * (5 / 8) * (5 / 8) / (5 / 4))
    assert scoring.rouge_l("the cat sat", "the cat sat") == 1.0
    assert scoring.rouge_l("", "x") == 0.0


def test_reference_scorer_per_category_and_skips_rows_without_reference():
    out = scoring.score_reference(["答案是 4", "北京", "anything"], ["2+2=4", "北京", ""], ["math", "open qa", "generation"])
    assert out["by_category"] == {"math": 1.0, "open qa": 1.0}
    assert out["scored"] == 2 and out["score"] == 1.0
