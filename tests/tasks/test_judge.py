"""The LLM-judge client against a local fake OpenAI-compatible server (never a real one)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from harness.tasks.judge import JudgeClient, load_grading_prompts
from tests.conftest import GLUE_DIR


@pytest.fixture()
def fake_server():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            reply = body["messages"][0]["content"]
            text = "得分: 0.5" if "模型回答: 4" in reply else "I cannot grade this."
            payload = {"choices": [{"message": {"role": "assistant", "content": text}}]}
            if "broken" in reply:
                payload = {"unexpected": True}
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1", seen
    server.shutdown()


def test_request_and_score_parsing(fake_server, monkeypatch):
    url, seen = fake_server
    monkeypatch.setenv("JUDGE_KEY", "secret")
    client = JudgeClient(url, "judge-model", api_key_env="JUDGE_KEY")
    assert client.score("请打分", "2+2=?", "4", "4") == 0.5
    request = seen[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer secret"
    assert request["body"]["model"] == "judge-model" and request["body"]["temperature"] == 0
    assert "标准答案: 4" in request["body"]["messages"][0]["content"]


def test_unparseable_answer_is_none_and_bad_shape_raises(fake_server):
    url, _ = fake_server
    client = JudgeClient(url, "m")
    assert client.score("p", "q", "r", "something else") is None
    with pytest.raises(RuntimeError, match="unexpected response shape"):
        client.score("p", "q", "r", "broken")


def test_unreachable_judge_is_one_clear_error():
    with pytest.raises(RuntimeError, match="request failed"):
        JudgeClient("http://127.0.0.1:9", "m", timeout_s=2).complete("x")


def test_belle_grading_prompts_cover_eval_categories():
    prompts = load_grading_prompts(str(GLUE_DIR.parent / "belle_eval" / "eval_prompt.json"))
    assert {"math", "code", "open qa", "closed qa", "generation"} <= set(prompts)
