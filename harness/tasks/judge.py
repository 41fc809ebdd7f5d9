"""LLM-as-judge through an OpenAI-compatible chat-completions endpoint (BELLE's own scoring).

Off by default; never called by the tests except against a local fake server. The grading
prompt per category is BELLE's (eval_prompt.json); the judge answers with "得分: <0..1>".
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

_SCORE = re.compile(r"(?:得分|score)\s*[:：]\s*([01](?:\.\d+)?)", re.IGNORECASE)


@dataclass
class JudgeClient:
    url: str                      # base URL, e.g. http://localhost:8000/v1
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 60.0

    def complete(self, prompt: str) -> str:
        body = json.dumps({"model": self.model, "temperature": 0,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url.rstrip("/") + "/chat/completions", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = json.loads(response.read().decode())
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
            raise RuntimeError(f"judge at {self.url}: request failed ({exc})") from None
        try:
            return payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise RuntimeError(f"judge at {self.url}: unexpected response shape {str(payload)[:200]}") from None

    def score(self, grading_prompt: str, question: str, reference: str, answer: str) -> float | None:
        text = self.complete(f"{grading_prompt}\n\n问题: {question}\n\n标准答案: {reference}\n\n模型回答: {answer}")
        match = _SCORE.search(text)
        return float(match.group(1)) if match else None


def load_grading_prompts(path: str) -> dict[str, str]:
    """BELLE's eval_prompt.json (JSON lines): category (lower-cased) -> grading prompt."""
    prompts = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                prompts[row["class"].lower().replace("\u00a0", " ")] = row["prompt"]
    return prompts
