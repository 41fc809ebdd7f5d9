"""The instruction comparison on real decoders: learning is measured against the untrained
model's row of the same subset, forgetting is the row's own before/after difference, seeds are
summarised as mean ± sample sd, and the claims are computed from the rows."""

import pandas as pd

from harness.report import instruct_comparison as comparison
from harness.report.tables import belle_lora_vs_ft


def _row(mode, method, seed, answer_loss, forgetting, score=0.02, precision="fp32", label=None):
    return {"task": "instruct/gsm8k", "status": "ok", "mode": mode, "random_init": False, "model": "smollm2_135m",
            "method": method, "method_label": label or method, "precision": precision, "seed": seed,
            "max_eval_samples": 32, "eval_examples": 32, "max_seq_length": 384, "lr": 2e-4, "eval_answer_loss": answer_loss, "score": score,
            "forgetting_loss_delta": forgetting, "timestamp_utc": f"2026-12-07T10:0{seed}:00", "params_added": 0,
            "params_trainable": 1, "pct_trainable": 1.0, "train_hours_per_epoch": 1.0, "train_examples_per_s": 1.0,
            "run_wall_s": 60.0, "train_examples_full": 7473, "device": "cpu", "device_name": "Xeon", "cpu_threads": 2}


def rows():
    return pd.DataFrame([
        _row("eval", "none", 1, 1.40, 0.0, score=0.0, label="untrained"),
        _row("eval", "none", 1, 1.60, 0.0, score=0.0, label="untrained", precision="int4"),
        *[_row("train", "lora", s, 1.10 + 0.01 * s, 0.001 * s) for s in (1, 2, 3)],
        *[_row("train", "full_ft", s, 0.90 + 0.01 * s, 0.05 + 0.001 * s) for s in (1, 2, 3)],
        _row("train", "lora", 1, 1.2, 0.002, precision="int4"),
    ])


def test_learning_is_measured_against_the_untrained_row():
    trained = comparison.with_learning(comparison.pretrained_rows(rows()))
    lora = trained[(trained["method"] == "lora") & (trained["precision"] == "fp32")].sort_values("seed")
    assert lora["learned_loss"].round(6).tolist() == [0.29, 0.28, 0.27]


def test_seeds_are_summarised_and_qlora_is_its_own_method():
    summ = comparison.summary(rows()).set_index("method_name")
    assert abs(summ.loc["QLoRA (lora, int4)", "learned_loss_mean"] - 0.4) < 1e-9  # against the int4 baseline
    assert summ.loc["lora", "seeds"] == 3 and summ.loc["QLoRA (lora, int4)", "seeds"] == 1
    assert abs(summ.loc["full_ft", "forgetting_loss_delta_mean"] - 0.052) < 1e-9
    assert abs(summ.loc["lora", "learned_loss_std"] - 0.01) < 1e-9


def test_the_headline_takes_the_model_with_the_most_seeds():
    # a second, larger model with one seed of each: the three-seed comparison still leads
    more = rows()
    big = more[more["method"].isin(["lora", "full_ft"]) & (more["seed"] == 1) & (more["precision"] == "fp32")].copy()
    base = more[(more["mode"] == "eval") & (more["precision"] == "fp32")].copy()
    big = pd.concat([base, big]).assign(model="a_larger_model", params_trainable=10)
    text = comparison.headline(comparison.summary(pd.concat([more, big])))
    assert text.startswith("On smollm2_135m, lora lowered") and "(3 seeds each)" in text
    assert "by 0.280 ± 0.010 nats/token" in text


def test_claims_follow_the_rows():
    text = " ".join(comparison.claims(comparison.summary(rows())))
    assert "lora beats the untrained model" in text and "full_ft beats the untrained model" in text
    assert "2 of 2 PEFT methods ended lower than full fine-tuning" in text and "supported by these rows" in text
    assert "LoRA learned less than full fine-tuning and kept the general text closer" in text
    assert "one problem is 3.1 points" in text
    # the other way round, the claim is reported as not supported
    flipped = rows()
    flipped.loc[flipped["method"] == "lora", "forgetting_loss_delta"] = 0.2
    assert "not supported" in " ".join(comparison.claims(comparison.summary(flipped)))


def test_belle_report_leads_with_the_scaled_down_reproduction():
    from harness.record.store import conform

    report = belle_lora_vs_ft.build(conform(rows()))
    main = report.grids[0]
    assert main.caption.startswith("Scaled-down reproduction")
    assert main.rows[0][1] == "untrained (baseline)"
    assert main.rows[1][1] == "untrained (baseline), int4"
    assert [r[1] for r in main.rows[2:]] == ["QLoRA (lora, int4)", "full_ft", "lora"]
    assert report.grids[1].caption == "Learning vs forgetting"


def test_a_shared_cpu_is_named_once_beside_the_hardware():
    from harness.record.store import conform
    from harness.report import headline

    shared = rows().assign(cpu_others_busy_cores=1.0)
    footnote = belle_lora_vs_ft.build(conform(shared)).grids[0].footnotes[0]
    assert footnote.count("CPU shared") == 1, footnote
    assert headline.table(conform(shared)).count("CPU shared") == 1
