"""Every setting of ragls in one tree, and reading it safely from a client or the command line.

`Settings` holds the engine's part (`EngineSettings`, the only thing the indexing engine sees)
and the server's own (debounce, Ollama, hovers); each default is written once, on its field.
The CLI fills the same tree from its options (`settings_from_options`).

On the wire (initializationOptions, workspace/configuration) the engine's keys sit at the top
level next to the server's: `{"model", "maxFileSize", "debounceMs", "ollama": {"host"}, ...}`;
keys are camelCase. A cattrs converter does the mapping, with strict hooks: `"10"` is not a
number and `true` is not 1. Reading never raises: a value of the wrong type, out of range, or a
key ragls does not know is reported in a list of messages, and that one field keeps its default.
docs/protocol.md lists every key.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ragls.core import llm
from ragls.core.embedding import DEVICES
from ragls.core.settings import BACKENDS, EngineSettings
from ragls.core.workspace import MAX_FILE_SIZE_LIMIT

SECTION = "ragls"  # the workspace/configuration section that holds these settings
NO_SUCH_SETTING = "ragls has no such setting"
HOVER_MODES = ("cached", "always", "off")  # hover.explain: cached answers only, generate, never


@dataclass(frozen=True)
class OllamaSettings:
    """Where the local LLM runs (used by the explain/ask features)."""

    host: str = field(default_factory=llm.default_host)  # $OLLAMA_HOST, else 127.0.0.1:11434
    model: str = llm.DEFAULT_MODEL


@dataclass(frozen=True)
class HoverSettings:
    """What hovers show."""

    explain: str = "cached"  # one of HOVER_MODES


@dataclass(frozen=True)
class Settings:
    """Everything a client can configure; every field has a working default."""

    engine: EngineSettings = field(default_factory=EngineSettings)  # its keys are top-level on the wire
    debounce_ms: int = 300
    ollama: OllamaSettings = field(default_factory=OllamaSettings)
    hover: HoverSettings = field(default_factory=HoverSettings)


def settings_from_options(**options: Any) -> Settings:
    """The settings tree from command-line options (snake_case names of any field, engine or
    Ollama: `model`, `max_file_size`, `ollama_host`); None means "not given": the default."""
    given = {name: value for name, value in options.items() if value is not None}
    ollama = {name.removeprefix("ollama_"): given.pop(name) for name in list(given) if name.startswith("ollama_")}
    engine = {name: given.pop(name) for name in list(given) if name in _ENGINE_FIELDS}
    if "ignore" in engine:
        engine["ignore"] = tuple(engine["ignore"])
    return Settings(engine=EngineSettings(**engine), ollama=OllamaSettings(**ollama), **given)


def camel_case(name: str) -> str:
    """`max_file_size` -> `maxFileSize`."""
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def load_settings(raw: Any) -> tuple[Settings, list[str]]:
    """Settings from a client's JSON object, and one message per value that was replaced.

    `None` (no settings sent) gives the defaults with no messages.
    """
    if raw is None:
        return Settings(), []
    if not isinstance(raw, dict):
        return Settings(), [
            f"{SECTION} settings must be an object, got {_json_type(raw)}; using the defaults"
        ]
    messages: list[str] = []
    engine_raw = {key: value for key, value in raw.items() if key in _ENGINE_KEYS}
    own_raw = {key: value for key, value in raw.items() if key not in _ENGINE_KEYS}
    engine = CONVERTER.structure(_drop_invalid_keys(engine_raw, EngineSettings, messages), EngineSettings)
    own = CONVERTER.structure(_drop_invalid_keys(own_raw, Settings, messages), Settings)
    return _apply_rules(dataclasses.replace(own, engine=engine), messages), messages


def settings_json(settings: Settings) -> dict:
    """Settings as the client would send them (camelCase keys, the engine's at the top level)."""
    return {**CONVERTER.unstructure(settings.engine), **CONVERTER.unstructure(settings)}


# conversion -------------------------------------------------------------------------------
_SETTINGS_CLASSES = (Settings, EngineSettings, OllamaSettings, HoverSettings)
_ENGINE_FIELDS = frozenset(f.name for f in fields(EngineSettings))
_ENGINE_KEYS = frozenset(camel_case(name) for name in _ENGINE_FIELDS)


def _strict(kind: type, name: str) -> Callable[[Any, type], Any]:
    def structure(value: Any, _: type) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"expected {name}, got {_json_type(value)}")
        return value

    return structure


def _string_list(value: Any, _: type) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of strings, got {_json_type(value)}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"expected a list of strings, got a list holding {_json_type(item)}")
    return tuple(value)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(int, _strict(int, "a whole number"))
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    converter.register_structure_hook_func(lambda cls: cls == tuple[str, ...], _string_list)
    for cls in _SETTINGS_CLASSES:
        renames = {f.name: override(rename=camel_case(f.name)) for f in fields(cls)}
        if cls is Settings:
            renames["engine"] = override(omit=True)  # read from the top level, see load_settings
        converter.register_structure_hook(
            cls, make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True, **renames)
        )
        converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter, **renames))
    return converter


CONVERTER = _make_converter()


def _drop_invalid_keys(raw: dict, cls: type, messages: list[str]) -> dict:
    """A copy of `raw` without the keys that cattrs cannot structure as `cls`; each is reported."""
    cleaned = copy.deepcopy(raw)
    while True:  # each round removes at least one key, so this ends
        try:
            CONVERTER.structure(cleaned, cls)
            return cleaned
        except ClassValidationError as error:
            failures = list(_failures(error, cls, (), cleaned))
            if not failures:
                messages.append(f"{SECTION} settings cannot be read ({error}); using the defaults")
                return {}
            for path, reason in failures:
                messages.append(_replaced_message(path, reason))
                _remove(cleaned, path)


def _failures(error: ClassValidationError, cls: type, path: tuple[str, ...], raw: dict):
    """(key path, reason) of every leaf failure in a cattrs error tree over `raw`."""
    for sub in error.exceptions:
        if isinstance(sub, ForbiddenExtraKeysError):
            for key in sorted(sub.extra_fields):
                yield (*path, key), NO_SUCH_SETTING
            continue
        name = next((note.name for note in getattr(sub, "__notes__", ()) if hasattr(note, "name")), None)
        if name is None:
            continue
        key = camel_case(name)
        field_type = _field_type(cls, name)
        value = raw.get(key)
        if (
            field_type in _SETTINGS_CLASSES
            and isinstance(sub, ClassValidationError)
            and isinstance(value, dict)
        ):
            yield from _failures(sub, field_type, (*path, key), value)
        elif field_type in _SETTINGS_CLASSES:
            yield (*path, key), f"expected an object, got {_json_type(value)}"
        else:
            yield (*path, key), _reason(sub)


def _reason(error: Exception) -> str:
    text = str(error)
    if isinstance(error, (TypeError, ValueError)) and text.startswith("expected"):
        return text
    return f"invalid value ({text})"


def _field_type(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls).get(name)


def _remove(raw: dict, path: tuple[str, ...]) -> None:
    target: Any = raw
    for key in path[:-1]:
        target = target.get(key) if isinstance(target, dict) else None
    if isinstance(target, dict):
        target.pop(path[-1], None)


# rules beyond types -----------------------------------------------------------------------
_URL = re.compile(r"^https?://[^\s/]+")

# (key path, field path, check, what a valid value looks like)
_RULES: tuple[tuple[str, tuple[str, ...], Callable[[Any], bool], str], ...] = (
    ("model", ("engine", "model"), lambda v: bool(v.strip()), "a model name or folder, not empty"),
    ("device", ("engine", "device"), lambda v: v in DEVICES, f"one of {', '.join(DEVICES)}"),
    ("cacheDir", ("engine", "cache_dir"), lambda v: v is None or bool(v.strip()), "a folder, or null"),
    ("maxFileSize", ("engine", "max_file_size"), lambda v: 1 <= v <= MAX_FILE_SIZE_LIMIT, f"from 1 to {MAX_FILE_SIZE_LIMIT} bytes"),
    ("batchSize", ("engine", "batch_size"), lambda v: v is None or 1 <= v <= 4096, "from 1 to 4096 texts, or null"),
    ("backend", ("engine", "backend"), lambda v: v in BACKENDS, f"one of {', '.join(BACKENDS)}"),
    ("indexThreads", ("engine", "index_threads"), lambda v: v is None or 1 <= v <= 1024, "from 1 to 1024, or null"),
    ("debounceMs", ("debounce_ms",), lambda v: 0 <= v <= 60_000, "from 0 to 60000 milliseconds"),
    ("ollama.host", ("ollama", "host"), lambda v: bool(_URL.match(v)), "an http:// or https:// URL"),
    ("ollama.model", ("ollama", "model"), lambda v: bool(v.strip()), "a model name, not empty"),
    ("hover.explain", ("hover", "explain"), lambda v: v in HOVER_MODES, f"one of {', '.join(HOVER_MODES)}"),
)


def _apply_rules(settings: Settings, messages: list[str]) -> Settings:
    for key, attrs, is_valid, expected in _RULES:
        value = _get(settings, attrs)
        if not is_valid(value):
            default = _get(_DEFAULTS, attrs)
            messages.append(
                f"{SECTION}.{key}: expected {expected}, got {json.dumps(value)}; "
                f"using the default {json.dumps(default)}"
            )
            settings = _replace(settings, attrs, default)
    return settings


_DEFAULTS = Settings()


def _get(obj: Any, attrs: tuple[str, ...]) -> Any:
    for attr in attrs:
        obj = getattr(obj, attr)
    return obj


def _replace(obj: Any, attrs: tuple[str, ...], value: Any) -> Any:
    if len(attrs) == 1:
        return dataclasses.replace(obj, **{attrs[0]: value})
    inner = _replace(getattr(obj, attrs[0]), attrs[1:], value)
    return dataclasses.replace(obj, **{attrs[0]: inner})


def _replaced_message(path: tuple[str, ...], reason: str) -> str:
    key = ".".join((SECTION, *path))
    if reason == NO_SUCH_SETTING:
        return f"{key}: {reason}; it is ignored"
    return f"{key}: {reason}; using the default {json.dumps(_default_at(path))}"


def _default_at(path: tuple[str, ...]) -> Any:
    value: Any = settings_json(_DEFAULTS)
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
