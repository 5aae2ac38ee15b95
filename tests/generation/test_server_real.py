"""``ponder serve`` on a real pretrained model: the OpenAI client's answer equals a direct generate."""

import pytest

from ponder.generation.base import SamplingParams
from tests.helpers import Server
from tests.real_model import QUESTIONS

pytestmark = pytest.mark.real


def test_served_chat_equals_direct_generate(real_model_dir, real_generator, tmp_path):
    import openai

    server = Server(real_model_dir, "smollm2", tmp_path / "serve.log")
    try:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=600)
        assert [m.id for m in client.models.list().data] == ["smollm2"]
        messages = [{"role": "user", "content": QUESTIONS[0]}]
        r = client.chat.completions.create(model="smollm2", messages=messages, temperature=0, max_tokens=40)
    finally:
        server.stop()
    direct = real_generator.generate([messages], SamplingParams(n=1, temperature=0, max_new_tokens=40))[0][0]
    assert r.choices[0].message.content == direct.text
    assert r.usage.completion_tokens == direct.num_tokens
    assert r.choices[0].finish_reason == direct.finish_reason
