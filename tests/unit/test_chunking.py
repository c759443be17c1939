"""Tests for ragls.core.chunking: real tree-sitter grammars on realistic sample files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from ragls.core.chunk import CONSTRUCTOR, FUNCTION, METHOD, MODULE, WINDOW, Chunk, Span
from ragls.core.chunking import chunk_source
from ragls.core.languages import PARSED_LANGUAGES, language_for_path

FIXTURES = Path(__file__).parent / "fixtures" / "chunking"
FUNCTION_KINDS = (FUNCTION, METHOD, CONSTRUCTOR)

EXPECTED_FUNCTIONS: dict[str, set[tuple[str, str]]] = {
    "sample.py": {
        ("load", FUNCTION),
        ("fetch", FUNCTION),
        ("Config.__init__", CONSTRUCTOR),
        ("Config.size", METHOD),
        ("Config.merge", METHOD),
        ("Config.merge.pick", FUNCTION),
        ("Config.Section.keys", METHOD),
        ("parse", FUNCTION),
    },
    "sample.js": {
        ("resolve", FUNCTION),
        ("ids", FUNCTION),
        ("main", FUNCTION),
        ("Client.constructor", CONSTRUCTOR),
        ("Client.retries", METHOD),
        ("Client.connect", METHOD),
        ("Client.connect.attempt", FUNCTION),
        ("Client.create", METHOD),
        ("double", FUNCTION),
        ("handler", FUNCTION),
        ("Client.prototype.close", METHOD),
        ("module.exports.helper", FUNCTION),
        ("api.get", METHOD),
        ("api.post", METHOD),
        ("api.nested.deep", METHOD),
    },
    "sample.ts": {
        ("Store.find", METHOD),
        ("Store.save", METHOD),
        ("UserStore.constructor", CONSTRUCTOR),
        ("UserStore.validate", METHOD),
        ("UserStore.normalize", METHOD),
        ("format", FUNCTION),
        ("identity", FUNCTION),
        ("Utils.clamp", FUNCTION),
    },
    "sample.tsx": {
        ("Counter", FUNCTION),
        ("Counter.increment", FUNCTION),
        ("App", FUNCTION),
        ("Legacy.render", METHOD),
    },
    "sample.go": {
        ("store.New", FUNCTION),
        ("store.Store.Get", METHOD),
        ("store.Store.Len", METHOD),
        ("store.Counter.Inc", METHOD),
        ("store.helper", FUNCTION),
    },
    "sample.rs": {
        ("Point::new", METHOD),
        ("Point::x", METHOD),
        ("Point::fmt", METHOD),
        ("Shape::perimeter", METHOD),
        ("util::clamp", FUNCTION),
        ("util::clamp::inner", FUNCTION),
        ("tests::builds_point", FUNCTION),
    },
    "Cart.java": {
        ("Cart.Cart", CONSTRUCTOR),
        ("Cart.add", METHOD),
        ("Cart.total", METHOD),
        ("Cart.Item.Item", CONSTRUCTOR),
        ("Cart.Item.price", METHOD),
        ("Cart.Discount.none", METHOD),
        ("Cart.Currency.symbol", METHOD),
        ("Cart.Line.Line", CONSTRUCTOR),
    },
    "sample.c": {
        ("buffer_new", FUNCTION),
        ("buffer_free", FUNCTION),
        ("split_words", FUNCTION),
        ("pick_handler", FUNCTION),
        ("main", FUNCTION),
    },
    "sample.cpp": {
        ("geo::distance", FUNCTION),
        ("geo::Shape::Shape", CONSTRUCTOR),
        ("geo::Shape::~Shape", METHOD),
        ("geo::Shape::operator==", METHOD),
        ("geo::Shape::name", METHOD),
        ("geo::Circle::Circle", CONSTRUCTOR),
        ("geo::Circle::area", METHOD),
        ("Stack::push", METHOD),
        ("helper", FUNCTION),
        ("main", FUNCTION),
    },
    "sample.rb": {
        ("Shop::Cart#initialize", CONSTRUCTOR),
        ("Shop::Cart#add", METHOD),
        ("Shop::Cart#empty?", METHOD),
        ("Shop::Cart.load", METHOD),
        ("Shop::Cart.default", METHOD),
        ("Shop::Helpers.format", METHOD),
        ("Shop::Helpers#log", METHOD),
        ("main", FUNCTION),
    },
}


def chunk_fixture(filename: str) -> list[Chunk]:
    """Chunk one sample file, with the language its extension implies."""
    language = language_for_path(filename)
    assert language is not None
    return chunk_source(f"src/{filename}", (FIXTURES / filename).read_bytes(), language)


def functions_of(chunks: list[Chunk]) -> dict[str, Chunk]:
    """Function-like chunks by qualified name."""
    return {chunk.name: chunk for chunk in chunks if chunk.kind in FUNCTION_KINDS}


def text_at(source: str, span: Span) -> str:
    """The text of `source` covered by `span`, reading its columns as UTF-16 code units."""
    lines = source.split("\n")

    def offset(line: int, column: int) -> int:
        prefix = lines[line].encode("utf-16-le")[: 2 * column].decode("utf-16-le")
        return sum(len(text) + 1 for text in lines[:line]) + len(prefix)

    return source[offset(span.start_line, span.start_col) : offset(span.end_line, span.end_col)]


def lines_of(span: Span) -> tuple[int, int]:
    """A span's first and last line."""
    return span.start_line, span.end_line


# --- every language: the right functions, with consistent spans -------------------------------


def test_every_parsed_language_has_a_sample() -> None:
    languages = {language_for_path(name) for name in EXPECTED_FUNCTIONS}
    assert languages == set(PARSED_LANGUAGES)


@pytest.mark.parametrize("filename", sorted(EXPECTED_FUNCTIONS))
def test_finds_exactly_the_expected_functions(filename: str) -> None:
    chunks = chunk_fixture(filename)
    found = [(chunk.name, chunk.kind) for chunk in chunks if chunk.kind in FUNCTION_KINDS]
    assert len(found) == len(set(found)), "a function was chunked twice"
    assert set(found) == EXPECTED_FUNCTIONS[filename]


@pytest.mark.parametrize("filename", sorted(EXPECTED_FUNCTIONS))
def test_function_text_is_the_source_under_its_span(filename: str) -> None:
    source = (FIXTURES / filename).read_text("utf-8")
    for chunk in functions_of(chunk_fixture(filename)).values():
        assert chunk.text == text_at(source, chunk.span), chunk.name
        assert chunk.name.endswith(text_at(source, chunk.name_span)), chunk.name
        assert chunk.span.start_line <= chunk.name_span.start_line <= chunk.span.end_line
        assert chunk.path == f"src/{filename}"
        assert chunk.language == language_for_path(filename)


@pytest.mark.parametrize("filename", sorted(EXPECTED_FUNCTIONS))
def test_module_residue_holds_no_function_line(filename: str) -> None:
    chunks = chunk_fixture(filename)
    modules = [chunk for chunk in chunks if chunk.kind == MODULE]
    assert modules, "every sample has module-level code"
    function_lines = {
        line
        for chunk in chunks
        if chunk.kind in FUNCTION_KINDS
        for line in range(chunk.span.start_line, chunk.span.end_line + 1)
    }
    source_lines = (FIXTURES / filename).read_text("utf-8").split("\n")
    for module in modules:
        for line in module.text.split("\n"):
            assert line.strip(), "blank lines are dropped"
            rows = [row for row, text in enumerate(source_lines) if text == line]
            assert any(row not in function_lines for row in rows), line


# --- Python ---------------------------------------------------------------------------------


def test_python_function_span_signature_and_docstring() -> None:
    load = functions_of(chunk_fixture("sample.py"))["load"]
    assert lines_of(load.span) == (8, 15)
    assert load.name_span == Span(8, 4, 8, 8)
    assert (
        load.signature
        == "def load(path: str = DEFAULT_PATH, *, strict: bool = False) -> dict[str, str]"
    )
    assert load.docstring == "Load a configuration file.\n\nLines starting with '#' are ignored."
    assert load.text.startswith("def load(") and load.text.endswith("strict=strict)")


def test_python_span_includes_decorators() -> None:
    functions = functions_of(chunk_fixture("sample.py"))
    size, merge = functions["Config.size"], functions["Config.merge"]
    assert size.span == Span(30, 4, 33, 31)
    assert size.text.startswith("@property\n    def size(self)")
    assert size.docstring == "Number of keys."
    assert merge.span.start_line == 35 and merge.text.startswith("@staticmethod\n    @cache\n")
    assert merge.name_span == Span(37, 8, 37, 13)
    assert merge.docstring == ""


def test_python_async_and_nested_functions() -> None:
    functions = functions_of(chunk_fixture("sample.py"))
    assert functions["fetch"].signature == "async def fetch(url)"
    pick = functions["Config.merge.pick"]
    assert lines_of(pick.span) == (38, 39)
    assert "def pick(key):" in functions["Config.merge"].text


def test_python_module_residue_keeps_top_level_code_only() -> None:
    modules = [chunk for chunk in chunk_fixture("sample.py") if chunk.kind == MODULE]
    assert [module.name for module in modules] == ["sample.py"]
    text = modules[0].text
    for kept in ("import os", "DEFAULT_PATH = ", "class Config:", 'SECTION = "main"'):
        assert kept in text
    assert "class Section:" in text and 'if __name__ == "__main__":' in text
    for dropped in ("return parse(", "self.values = values", "def load", "result = {}"):
        assert dropped not in text
    assert lines_of(modules[0].span) == (0, 59)


# --- JavaScript / TypeScript / TSX ----------------------------------------------------------


def test_javascript_jsdoc_is_docstring_and_part_of_span() -> None:
    resolve = functions_of(chunk_fixture("sample.js"))["resolve"]
    assert lines_of(resolve.span) == (6, 13)
    assert resolve.text.startswith("/**\n * Resolve a module path.")
    assert resolve.docstring == (
        "Resolve a module path.\n@param {string} name - The module name.\n@returns {string}"
    )
    assert resolve.name_span == Span(11, 9, 11, 16)
    assert resolve.signature == "function resolve(name)"


def test_javascript_bound_functions_take_their_binding_name() -> None:
    functions = functions_of(chunk_fixture("sample.js"))
    assert functions["double"].signature == "const double = (x) =>"
    assert functions["double"].text == "const double = (x) => x * 2;"
    assert functions["Client.prototype.close"].name_span == Span(48, 0, 48, 22)
    assert functions["api.post"].signature == "post: async (url, body) =>"
    assert functions["main"].signature == "export default async function main()"
    constructor = functions["Client.constructor"]
    assert constructor.docstring == "Create a client."
    assert lines_of(constructor.span) == (25, 29)


def test_javascript_anonymous_default_export_and_false_doc_comments() -> None:
    source = b"/** x */\nconst re = /a*/\nexport default () => re;\n"
    functions = functions_of(chunk_source("a.js", source, "javascript"))
    assert list(functions) == ["default"]
    # The line above ends in `*/` but is a regex, not the end of a doc comment.
    assert functions["default"].docstring == ""
    assert functions["default"].span == Span(2, 0, 2, 24)
    assert functions["default"].name_span == Span(2, 7, 2, 14)


def test_typescript_decorated_method_and_overloads() -> None:
    functions = functions_of(chunk_fixture("sample.ts"))
    validate = functions["UserStore.validate"]
    assert lines_of(validate.span) == (30, 34)
    assert validate.text.startswith("/** Users need a name. */\n  @Log()\n  validate(")
    assert validate.docstring == "Users need a name."
    assert validate.signature == "validate(user: User): boolean"
    assert lines_of(functions["format"].span) == (41, 43)
    assert lines_of(functions["Store.save"].span) == (19, 21)


def test_tsx_arrow_component_and_nested_arrow() -> None:
    functions = functions_of(chunk_fixture("sample.tsx"))
    counter = functions["Counter"]
    assert lines_of(counter.span) == (4, 9)
    assert counter.docstring == "A counter button."
    assert counter.signature == "export const Counter = ({ label }: Props) =>"
    assert counter.name_span == Span(5, 13, 5, 20)


# --- Go, Rust, Java -------------------------------------------------------------------------


def test_go_doc_comment_and_receiver() -> None:
    functions = functions_of(chunk_fixture("sample.go"))
    new = functions["store.New"]
    assert lines_of(new.span) == (17, 22)
    assert new.docstring == "New creates an empty store.\n\nIt never returns nil."
    assert new.signature == "func New[K comparable, V any]() *Store[K, V]"
    get = functions["store.Store.Get"]
    assert get.name_span == Span(25, 22, 25, 25)
    assert get.signature == "func (s *Store[K, V]) Get(key K) (V, error)"
    assert functions["store.Store.Len"].docstring == ""


def test_rust_doc_comments_and_attributes_are_in_span() -> None:
    functions = functions_of(chunk_fixture("sample.rs"))
    test_fn = functions["tests::builds_point"]
    assert lines_of(test_fn.span) == (50, 55)
    assert test_fn.text.startswith(
        "/// Checks the constructor.\n    #[test]\n    fn builds_point()"
    )
    assert test_fn.docstring == "Checks the constructor."
    assert functions["Shape::perimeter"].docstring == "Perimeter, approximated."
    assert functions["Point::new"].signature == "pub fn new(x: T, y: T) -> Self"
    assert functions["Point::fmt"].name_span == Span(21, 7, 21, 10)


def test_java_javadoc_annotations_and_constructors() -> None:
    functions = functions_of(chunk_fixture("Cart.java"))
    add = functions["Cart.add"]
    assert lines_of(add.span) == (17, 25)
    assert add.docstring == "Adds an item.\n\n@param item the item to add"
    assert add.signature == "@Override public void add(Item item)"
    assert add.name_span == Span(23, 16, 23, 19)
    constructor = functions["Cart.Cart"]
    assert constructor.docstring == "Creates an empty cart."
    assert constructor.signature == "public Cart()"


# --- C, C++, Ruby ---------------------------------------------------------------------------


def test_c_names_from_declarators_and_comment_docs() -> None:
    functions = functions_of(chunk_fixture("sample.c"))
    buffer_new = functions["buffer_new"]
    assert lines_of(buffer_new.span) == (12, 22)
    assert (
        buffer_new.docstring
        == "Allocate a buffer of `len` bytes.\nReturns NULL when out of memory."
    )
    assert buffer_new.signature == "struct buffer *buffer_new(size_t len)"
    assert functions["buffer_free"].docstring == "Free a buffer."
    assert functions["pick_handler"].name_span == Span(34, 6, 34, 18)
    assert functions["split_words"].docstring == ""


def test_cpp_templates_out_of_line_and_constructors() -> None:
    functions = functions_of(chunk_fixture("sample.cpp"))
    distance = functions["geo::distance"]
    assert lines_of(distance.span) == (5, 9)
    assert distance.docstring == "Euclidean distance."
    assert distance.signature == "template <typename T> T distance(T a, T b)"
    area = functions["geo::Circle::area"]
    assert lines_of(area.span) == (36, 38)
    assert area.name_span == Span(36, 20, 36, 24)
    assert functions["Stack::push"].text.startswith("template <class T>\nvoid Stack<T>::push(")


def test_ruby_doc_comments_and_singleton_methods() -> None:
    functions = functions_of(chunk_fixture("sample.rb"))
    add = functions["Shop::Cart#add"]
    assert lines_of(add.span) == (17, 22)
    assert add.docstring == "Adds an item and returns self.\nChainable."
    assert add.signature == "def add(item)"
    assert add.name_span == Span(19, 8, 19, 11)
    assert functions["Shop::Cart.load"].signature == "def self.load(json)"
    assert functions["Shop::Cart#initialize"].docstring == "Creates an empty cart."


# --- positions and bytes --------------------------------------------------------------------


def test_columns_count_utf16_code_units() -> None:
    # 'é' is 2 bytes / 1 UTF-16 unit; '😀' is 4 bytes / 2 units (a surrogate pair).
    source = 'const s = "é😀"; function f() { return s; }\n'.encode()
    (function,) = [c for c in chunk_source("a.js", source, "javascript") if c.kind == FUNCTION]
    assert function.span == Span(0, 17, 0, 43)
    assert function.name_span == Span(0, 26, 0, 27)
    assert function.text == "function f() { return s; }"


def test_non_ascii_function_name_span() -> None:
    source = "def größe(x):\n    return x\n".encode()
    (function,) = chunk_source("a.py", source, "python")
    assert function.name == "größe"
    assert function.name_span == Span(0, 4, 0, 9)
    assert function.span == Span(0, 0, 1, 12)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    source = b'def f():\n    return "\xff\xfe"\n\nX = "\xc3"\n'
    chunks = chunk_source("bad.py", source, "python")
    function = functions_of(chunks)["f"]
    assert function.text == 'def f():\n    return "\ufffd\ufffd"'
    (module,) = [chunk for chunk in chunks if chunk.kind == MODULE]
    assert module.text == 'X = "\ufffd"'


def test_crlf_file_gives_same_functions_as_lf() -> None:
    source = (FIXTURES / "sample.py").read_bytes()
    lf = chunk_source("a.py", source, "python")
    crlf = chunk_source("a.py", source.replace(b"\n", b"\r\n"), "python")
    assert [(c.name, c.kind, lines_of(c.span)) for c in crlf] == [
        (c.name, c.kind, lines_of(c.span)) for c in lf
    ]
    assert not functions_of(crlf)["load"].text.endswith("\r")


@pytest.mark.parametrize("language", PARSED_LANGUAGES)
def test_random_bytes_never_raise(language: str) -> None:
    generator = random.Random(language)
    for _ in range(5):
        noise = bytes(generator.randrange(256) for _ in range(2000))
        for chunk in chunk_source("noise.bin", noise, language):
            assert isinstance(chunk.text, str) and chunk.kind in (*FUNCTION_KINDS, MODULE, WINDOW)


# --- fallbacks ------------------------------------------------------------------------------


def test_empty_and_blank_files_give_no_chunks() -> None:
    assert chunk_source("empty.py", b"", "python") == []
    assert chunk_source("blank.py", b"  \n\n\t\n", "python") == []
    assert chunk_source("blank.kt", b"\n\n", "kotlin") == []


def test_unknown_language_is_split_into_windows() -> None:
    lines = [f"val x{i} = {i}" for i in range(60)] + [""] * 60 + [f"fun f{i}()" for i in range(80)]
    chunks = chunk_source("app/Main.kt", "\n".join(lines).encode() + b"\n", "kotlin")
    assert [chunk.name for chunk in chunks] == [
        "app/Main.kt:L1-60",
        "app/Main.kt:L121-180",
        "app/Main.kt:L181-200",
    ]
    assert {chunk.kind for chunk in chunks} == {WINDOW}
    assert chunks[0].span == Span(0, 0, 59, len("val x59 = 59"))
    assert chunks[0].text == "\n".join(lines[:60])
    assert chunks[2].text == "\n".join(lines[180:])


def test_unparsable_file_is_split_into_windows() -> None:
    garbage = "\n".join("}{ ))) ((( :::: ]]] @@ =>" for _ in range(70)).encode()
    chunks = chunk_source("broken.py", garbage, "python")
    assert [chunk.name for chunk in chunks] == ["broken.py:L1-60", "broken.py:L61-70"]
    assert {chunk.kind for chunk in chunks} == {WINDOW}


def test_file_with_errors_keeps_the_functions_it_has() -> None:
    source = b"def ok(a):\n    return a\n\nx = = = 3\n\nclass C:\n    def m(self):\n        pass\n"
    chunks = chunk_source("partly.py", source, "python")
    assert {(c.name, c.kind) for c in chunks if c.kind != MODULE} == {
        ("ok", FUNCTION),
        ("C.m", METHOD),
    }
    assert WINDOW not in {chunk.kind for chunk in chunks}


def test_file_without_functions_gives_module_chunks() -> None:
    source = "\n".join(f"VALUE_{i} = {i}" for i in range(150)).encode()
    chunks = chunk_source("pkg/constants.py", source, "python")
    assert [chunk.name for chunk in chunks] == [
        "constants.py",
        "constants.py#2",
        "constants.py#3",
    ]
    assert [lines_of(chunk.span) for chunk in chunks] == [(0, 59), (60, 119), (120, 149)]
    assert {chunk.kind for chunk in chunks} == {MODULE}
    assert chunks[2].text.split("\n")[0] == "VALUE_120 = 120"


def test_module_windows_follow_original_line_numbers() -> None:
    body = "\n".join(f"    x = {i}" for i in range(100))
    source = f"import os\n\ndef big():\n{body}\n\nTAIL = 1\n".encode()
    chunks = chunk_source("m.py", source, "python")
    modules = [chunk for chunk in chunks if chunk.kind == MODULE]
    # The residue lines are 0 and 104: too far apart for one 60-line window.
    assert [(m.name, m.text, lines_of(m.span)) for m in modules] == [
        ("m.py", "import os", (0, 0)),
        ("m.py#2", "TAIL = 1", (104, 104)),
    ]


# --- size and identity ----------------------------------------------------------------------


def test_very_long_function_is_one_chunk() -> None:
    body = "\n".join(f"    total += {i}" for i in range(5000))
    source = f"def long():\n    total = 0\n{body}\n    return total\n".encode()
    (chunk,) = chunk_source("long.py", source, "python")
    assert chunk.name == "long" and lines_of(chunk.span) == (0, 5002)
    assert chunk.text.endswith("return total")


def test_signature_is_collapsed_and_capped() -> None:
    params = ",\n    ".join(f"argument_{i}: int = {i}" for i in range(40))
    source = f"def wide(\n    {params},\n):\n    pass\n".encode()
    (chunk,) = chunk_source("wide.py", source, "python")
    assert chunk.signature.startswith("def wide(argument_0: int = 0, argument_1: int = 1,")
    assert "\n" not in chunk.signature and len(chunk.signature) <= 200


def test_content_hash_survives_moves_and_tracks_edits() -> None:
    original = b"def f(x):\n    return x + 1\n"
    moved = b"import os\n\n\nY = 2\n" + original
    edited = b"def f(x):\n    return x + 2\n"
    (before,) = chunk_source("a.py", original, "python")
    after = functions_of(chunk_source("a.py", moved, "python"))["f"]
    (changed,) = chunk_source("a.py", edited, "python")
    assert after.span.start_line == 4
    assert after.content_hash == before.content_hash
    assert changed.content_hash != before.content_hash


def test_an_edit_inside_a_function_leaves_every_module_window_as_it_was() -> None:
    # Module-level code around many functions: several module windows. A line added inside one
    # function used to shift the windows after it (they were cut at fixed line distances).
    parts = []
    for i in range(12):
        parts.append(f"SETTING_{i} = {i}\n" + "".join(f"ALIAS_{i}_{j} = SETTING_{i}\n" for j in range(8)))
        parts.append(f"def handler_{i}(event):\n" + "".join(f"    step_{k}(event)\n" for k in range(6)) + "    return event\n")
    source = "\n".join(parts)
    before = chunk_source("m.py", source.encode(), "python")
    edited = source.replace("def handler_3(event):\n", "def handler_3(event):\n    log(event)\n")
    after = chunk_source("m.py", edited.encode(), "python")
    windows_before = [chunk.text for chunk in before if chunk.kind == MODULE]
    assert len(windows_before) > 1
    assert [chunk.text for chunk in after if chunk.kind == MODULE] == windows_before
    hashes_before = {chunk.content_hash for chunk in before}
    changed = {chunk.name for chunk in after if chunk.content_hash not in hashes_before}
    assert changed == {"handler_3"}
