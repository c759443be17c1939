"""Reading client settings: camelCase keys, strict types, clear messages, defaults on error."""

from __future__ import annotations

import pytest

from ragls.config import HoverSettings, OllamaSettings, Settings, load_settings, settings_from_options, settings_json
from ragls.core.settings import EngineSettings


def test_no_settings_give_the_defaults_silently():
    assert load_settings(None) == (Settings(), [])
    assert load_settings({}) == (Settings(), [])


def test_camel_case_keys_map_to_every_field():
    raw = {
        "model": "/models/mini",
        "device": "cpu",
        "cacheDir": "/tmp/cache",
        "ignore": ["*.min.js", "vendor/"],
        "maxFileSize": 2048,
        "batchSize": 64,
        "queryPrompt": "search_query: ",
        "documentPrompt": "",
        "backend": "onnx",
        "indexThreads": 3,
        "baseIndex": "../team.ragls",
        "debounceMs": 50,
        "ollama": {"host": "http://gpu-box:11434", "model": "llama3"},
        "hover": {"explain": "always"},
    }
    settings, problems = load_settings(raw)

    assert problems == []
    assert settings == Settings(
        engine=EngineSettings(
            model="/models/mini",
            device="cpu",
            cache_dir="/tmp/cache",
            ignore=("*.min.js", "vendor/"),
            max_file_size=2048,
            batch_size=64,
            query_prompt="search_query: ",
            document_prompt="",
            backend="onnx",
            index_threads=3,
            base_index="../team.ragls",
        ),
        debounce_ms=50,
        ollama=OllamaSettings(host="http://gpu-box:11434", model="llama3"),
        hover=HoverSettings(explain="always"),
    )
    assert settings_json(settings) == raw


def test_the_command_line_fills_the_same_tree_and_leaves_defaults_alone():
    settings = settings_from_options(model="/m", device=None, max_file_size=5, ignore=["a/"], ollama_host=None, ollama_model="phi")
    assert settings.engine == EngineSettings(model="/m", max_file_size=5, ignore=("a/",))
    assert settings.ollama == OllamaSettings(model="phi") and settings.debounce_ms == Settings().debounce_ms


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"maxFileSize": "10"},
            'ragls.maxFileSize: expected a whole number, got the string "10"; using the default 1000000',
        ),
        ({"maxFileSize": True}, "ragls.maxFileSize: expected a whole number, got true"),
        ({"maxFileSize": 0}, "ragls.maxFileSize: expected from 1 to 1000000000 bytes, got 0"),
        (
            {"ignore": "*.js"},
            'ragls.ignore: expected a list of strings, got the string "*.js"; using the default []',
        ),
        ({"ignore": ["ok", 3]}, "ragls.ignore: expected a list of strings, got a list holding the number 3"),
        (
            {"device": "gpu"},
            'ragls.device: expected one of auto, cpu, cuda, got "gpu"; using the default "auto"',
        ),
        (
            {"hover": 7},
            'ragls.hover: expected an object, got the number 7; using the default {"explain": "cached"}',
        ),
        ({"hover": {"explain": "yes"}}, 'ragls.hover.explain: expected one of cached, always, off, got "yes"'),
        ({"hover": {"explain": True}}, 'ragls.hover.explain: expected a string, got true; using the default "cached"'),
        ({"ollama": {"host": "localhost:11434"}}, "ragls.ollama.host: expected an http:// or https:// URL"),
        ({"ollama": {"port": 1}}, "ragls.ollama.port: ragls has no such setting; it is ignored"),
        ({"maxFilesize": 10}, "ragls.maxFilesize: ragls has no such setting; it is ignored"),
        ({"engine": {"model": "x"}}, "ragls.engine: ragls has no such setting; it is ignored"),
        ({"batchSize": 0}, "ragls.batchSize: expected from 1 to 4096 texts, or null, got 0"),
        ({"backend": "tensorrt"}, 'ragls.backend: expected one of auto, torch, onnx, onnx-int8, got "tensorrt"'),
        ({"indexThreads": 0}, "ragls.indexThreads: expected from 1 to 1024, or null, got 0"),
        ({"queryPrompt": 3}, "ragls.queryPrompt: expected a string, got the number 3"),
        ({"debounceMs": -5}, "ragls.debounceMs: expected from 0 to 60000 milliseconds, got -5"),
        ("fast", 'ragls settings must be an object, got the string "fast"; using the defaults'),
    ],
)
def test_each_invalid_value_is_reported_and_replaced_by_its_default(raw, message):
    settings, problems = load_settings(raw)

    assert len(problems) == 1 and problems[0].startswith(message), problems
    assert settings == Settings()


def test_valid_values_survive_next_to_invalid_ones():
    settings, problems = load_settings(
        {"maxFileSize": "big", "device": "cpu", "ollama": {"host": 1, "model": "phi"}}
    )

    assert len(problems) == 2
    assert settings.engine.device == "cpu" and settings.engine.max_file_size == EngineSettings().max_file_size
    assert settings.ollama == OllamaSettings(host=OllamaSettings().host, model="phi")
