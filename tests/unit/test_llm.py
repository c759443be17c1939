"""OllamaLLM against the stand-in Ollama server: streaming, context length, pull, error mapping."""

from __future__ import annotations

import asyncio
import socket
import pytest

from ollama_server import DEFAULT_MODEL, FakeOllama
from ragls.core.llm import (
    LLMTimeout,
    ModelNotFound,
    OllamaLLM,
    OllamaUnavailable,
    StreamError,
    context_length_of,
    default_host,
)

MESSAGES = [{"role": "user", "content": "explain add_item"}]


@pytest.fixture
def fake():
    server = FakeOllama(reply="It adds an item to the cart.").start()
    yield server
    server.stop_listening()


async def collect(llm: OllamaLLM) -> list[str]:
    return [delta async for delta in llm.stream_chat(MESSAGES, {"num_ctx": 8192})]


@pytest.mark.asyncio
async def test_stream_chat_yields_the_tokens_in_order(fake):
    llm = OllamaLLM(DEFAULT_MODEL, fake.host)
    deltas = await collect(llm)
    assert deltas == fake.tokens() and "".join(deltas) == "It adds an item to the cart."
    (body,) = fake.bodies("/api/chat")
    assert body["model"] == DEFAULT_MODEL and body["messages"] == MESSAGES
    assert body["stream"] is True and body["options"]["num_ctx"] == 8192
    await llm.close()


@pytest.mark.asyncio
async def test_closing_the_stream_closes_the_connection(fake):
    fake.reply, fake.token_delay = " ".join(["word"] * 200), 0.02
    llm = OllamaLLM(DEFAULT_MODEL, fake.host)
    stream = llm.stream_chat(MESSAGES)
    assert await anext(stream) == "word "
    await stream.aclose()
    for _ in range(100):
        if fake.closed_streams:
            break
        await asyncio.sleep(0.02)
    assert fake.closed_streams == ["/api/chat"]
    await llm.close()


@pytest.mark.asyncio
async def test_unknown_model_is_model_not_found_naming_the_model_and_pull(fake):
    llm = OllamaLLM("llama-nope:1b", fake.host)
    with pytest.raises(ModelNotFound) as caught:
        await collect(llm)
    assert "llama-nope:1b" in str(caught.value) and "ollama pull llama-nope:1b" in str(caught.value)
    assert "ragls.pullModel" in str(caught.value)
    with pytest.raises(ModelNotFound):
        await llm.context_length()


@pytest.mark.asyncio
async def test_nothing_listening_is_ollama_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = OllamaLLM(DEFAULT_MODEL, f"http://127.0.0.1:{port}")
    with pytest.raises(OllamaUnavailable) as caught:
        await collect(llm)
    assert f"cannot reach Ollama at http://127.0.0.1:{port}" in str(caught.value)
    assert "ollama serve" in str(caught.value)


@pytest.mark.asyncio
async def test_a_server_that_stopped_listening_is_ollama_unavailable(fake):
    host = fake.host
    fake.stop_listening()
    with pytest.raises(OllamaUnavailable):
        await collect(OllamaLLM(DEFAULT_MODEL, host))


@pytest.mark.asyncio
async def test_mid_stream_error_carries_the_partial_text(fake):
    fake.fail_after = 3
    llm = OllamaLLM(DEFAULT_MODEL, fake.host)
    received = []
    with pytest.raises(StreamError) as caught:
        async for delta in llm.stream_chat(MESSAGES):
            received.append(delta)
    assert caught.value.partial == "".join(fake.tokens()[:3]) == "".join(received)
    assert "out of memory" in str(caught.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("garbage", ["this is not JSON", '{"oops": 1}', '[1, 2]'])
async def test_a_line_that_is_not_ollamas_is_a_stream_error_with_the_partial_text(fake, garbage):
    fake.garbage_after, fake.garbage = 3, garbage
    with pytest.raises(StreamError) as caught:
        await collect(OllamaLLM(DEFAULT_MODEL, fake.host))
    assert caught.value.partial == "".join(fake.tokens()[:3])
    assert "is it Ollama?" in str(caught.value)


@pytest.mark.asyncio
async def test_an_endless_answer_stops_at_the_token_limit(fake):
    fake.endless = True
    llm = OllamaLLM(DEFAULT_MODEL, fake.host)
    with pytest.raises(StreamError, match="limit of 20 tokens") as caught:
        async for _ in llm.stream_chat(MESSAGES, {"num_predict": 20}):
            pass
    assert caught.value.partial.startswith(fake.reply) and len(caught.value.partial) < 30 * 16


@pytest.mark.asyncio
async def test_the_stand_in_honours_num_predict_like_ollama(fake):
    import ollama

    parts = [p async for p in await ollama.AsyncClient(host=fake.host).chat(
        DEFAULT_MODEL, messages=MESSAGES, stream=True, options={"num_predict": 2})]
    assert "".join(p.message.content for p in parts) == "".join(fake.tokens()[:2])
    assert parts[-1].done_reason == "length"


@pytest.mark.asyncio
async def test_a_silent_server_times_out(fake):
    fake.token_delay = 2.0
    llm = OllamaLLM(DEFAULT_MODEL, fake.host, read_timeout=0.3)
    with pytest.raises(LLMTimeout):
        await collect(llm)


@pytest.mark.asyncio
async def test_context_length_from_model_info(fake):
    fake.models[DEFAULT_MODEL] = 16384
    assert await OllamaLLM(DEFAULT_MODEL, fake.host).context_length() == 16384


def test_context_length_prefers_num_ctx_and_falls_back_to_4096():
    assert context_length_of('stop "x"\nnum_ctx                        8192', {"llama.context_length": 131072}) == 8192
    assert context_length_of("", {"llama.context_length": 131072}) == 131072
    assert context_length_of("", {}) == 4096


@pytest.mark.asyncio
async def test_pull_reports_progress_and_installs_the_model(fake):
    llm = OllamaLLM("tinyllama:1b", fake.host)
    steps = [step async for step in llm.pull()]
    assert steps[0].status == "pulling manifest" and steps[-1].status == "success"
    assert [s.percentage for s in steps if s.percentage is not None] == [0, 50, 100]
    assert "tinyllama:1b" in fake.models


def test_default_host_reads_ollama_host(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert default_host() == "http://127.0.0.1:11434"
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.9:11500")
    assert default_host() == "http://127.0.0.9:11500"


@pytest.mark.asyncio
async def test_the_stand_in_answers_generate_and_non_streaming_requests_like_ollama(fake):
    import ollama

    client = ollama.AsyncClient(host=fake.host)
    whole = await client.generate(DEFAULT_MODEL, "hi", stream=False)
    assert whole.response == fake.reply and whole.done and whole.done_reason == "stop"
    assert whole.eval_count == len(fake.tokens())
    parts = [part async for part in await client.generate(DEFAULT_MODEL, "hi", stream=True)]
    assert "".join(part.response for part in parts) == fake.reply and parts[-1].done
    chat = await client.chat(DEFAULT_MODEL, messages=MESSAGES, stream=False)
    assert chat.message.content == fake.reply and chat.prompt_eval_count == 42
    with pytest.raises(ollama.ResponseError) as caught:
        await client.generate("missing:1b", "hi", stream=False)
    assert caught.value.status_code == 404 and caught.value.error == "model 'missing:1b' not found"
    assert [model.model for model in (await client.list()).models] == [DEFAULT_MODEL]
