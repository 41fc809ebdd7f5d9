"""Sequence classification over a pooled encoder output, for checkpoints trained that way.

transformers' `*ForSequenceClassification` heads read one token (BERT: [CLS] through the
pretrained pooler). Sentence-embedding checkpoints (sentence-transformers layout:
`modules.json` + `1_Pooling/config.json`) were trained on the mean of the token vectors
instead; fine-tuning them through [CLS] starts from a representation they never learned.
This head pools the way the checkpoint says, then applies dropout and one linear layer,
named `classifier` like transformers' heads so every method trains it.

No maintained library offers this for arbitrary encoders with peft in the loop
(sentence-transformers' own classifier is a cross-encoder on [CLS]), hence these few lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
from transformers.modeling_outputs import SequenceClassifierOutput

POOLINGS = ("mean", "cls")


def checkpoint_pooling(path: str | Path) -> Optional[str]:
    """The pooling a sentence-transformers checkpoint folder declares, or None when the folder
    has no such declaration (a plain transformers checkpoint, or a hub id)."""
    folder = Path(path)
    modules = folder / "modules.json"
    if not modules.is_file():
        return None
    for module in json.loads(modules.read_text()):
        if module.get("type", "").endswith("Pooling"):
            config = json.loads((folder / module.get("path", "") / "config.json").read_text())
            if config.get("pooling_mode_mean_tokens"):
                return "mean"
            if config.get("pooling_mode_cls_token"):
                return "cls"
    return None


def pool(hidden: torch.Tensor, attention_mask: Optional[torch.Tensor], pooling: str) -> torch.Tensor:
    """[batch, seq, hidden] -> [batch, hidden]: mean over non-padding tokens, or the first token."""
    if pooling == "cls":
        return hidden[:, 0]
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask[:, -hidden.shape[1]:].unsqueeze(-1).to(hidden.dtype)  # prompt tokens prepended
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class PooledClassifier(nn.Module):
    """Encoder (transformers `AutoModel`, pooler removed) + pooling + dropout + linear head.

    The encoder sits under its own prefix (`bert.`), so parameter names match transformers'
    classification models and adapter targets, layer stacks and freezing work unchanged.
    """

    def __init__(self, encoder: nn.Module, pooling: str):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r}: expected one of {POOLINGS}")
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None  # never used: its weights would be dead parameters
        self.base_model_prefix = encoder.base_model_prefix
        self.pooling = pooling
        setattr(self, self.base_model_prefix, encoder)
        config = encoder.config
        self.dropout = nn.Dropout(getattr(config, "classifier_dropout", None) or config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        nn.init.normal_(self.classifier.weight, std=config.initializer_range)
        nn.init.zeros_(self.classifier.bias)

    @property
    def encoder_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix)

    @property
    def config(self):
        return self.encoder_model.config

    @property
    def device(self) -> torch.device:
        return self.classifier.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.encoder_model.dtype

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder_model.get_input_embeddings()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None, labels=None,
                past_key_values=None, **kwargs) -> SequenceClassifierOutput:
        kwargs = {k: v for k, v in kwargs.items() if v is not None and k != "return_dict"}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if past_key_values is not None:
            kwargs["past_key_values"] = past_key_values
        out = self.encoder_model(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                                 **kwargs)
        pooled = pool(out.last_hidden_state, attention_mask, self.pooling)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            if self.config.num_labels == 1:
                loss = nn.functional.mse_loss(logits.squeeze(-1).float(), labels.float())
            else:
                loss = nn.functional.cross_entropy(logits.float().view(-1, self.config.num_labels), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)
