"""How deep backprop goes, on a small BERT built from its config (the model FLOPs per token use it)."""

from transformers import BertConfig, BertForSequenceClassification

from harness.measure.flops import layers_in_backprop
from harness.methods import MethodContext, get_method, parse_args
from harness.models.architecture import head_module_names
from tests.conftest import make_cfg

H, LAYERS, HEADS = 64, 4, 4


def adapted(method_name: str, *overrides):
    model = BertForSequenceClassification(BertConfig(hidden_size=H, num_hidden_layers=LAYERS,
                                                     num_attention_heads=HEADS, intermediate_size=4 * H,
                                                     vocab_size=500, num_labels=2))
    heads = head_module_names(model)
    method = get_method(method_name)
    cfg = make_cfg(f"method={method_name}", *overrides)
    return method.apply(model, parse_args(method, cfg.method), MethodContext("bert", heads, 10)), heads


def counts(model):
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters()) - trainable


def test_backprop_depth_starts_at_the_lowest_trainable_layer():
    assert layers_in_backprop(*adapted("lora")) == LAYERS
    assert layers_in_backprop(*adapted("freeze", "method.trainable_layers=1")) == 1  # only the top layer + head train
    assert layers_in_backprop(*adapted("prompt_tuning")) == LAYERS  # the prompt sits below the stack
