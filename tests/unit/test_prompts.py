"""The explain prompt (budget, numbering, secrets) and the explanation cache."""

from __future__ import annotations

from ragls.core.chunk import Chunk, Span
from ragls.core.chunking import chunk_source
from ragls.core.explanations import ExplanationCache
from ragls.core.prompts import (
    ANSWER_TOKENS,
    DEFAULT_QUESTION,
    MAX_NUM_CTX,
    build_prompt,
    context_window,
    enclosing_class,
    estimate_tokens,
)

CART = '''class Cart:
    def add_item(self, name, price):
        """Put an item in the cart."""
        self.items.append((name, price))
        log_change(self)
'''


def chunks(path: str, text: str) -> list[Chunk]:
    return chunk_source(path, text.encode(), "python")


def function(path: str, name: str, body_lines: int = 2) -> Chunk:
    body = "".join(f"    step_{i} = {i}  # work\n" for i in range(body_lines))
    (chunk,) = chunks(path, f"def {name}():\n{body}")
    return chunk


def add_item() -> Chunk:
    return next(c for c in chunks("shop/cart.py", CART) if c.name == "Cart.add_item")


def user_text(prompt) -> str:
    return prompt.messages[-1]["content"]


def test_prompt_holds_the_function_its_path_class_and_numbered_sources():
    related = [function("shop/log.py", "log_change"), function("shop/tax.py", "tax_rate")]
    prompt = build_prompt(add_item(), related, None, 32768)
    text = user_text(prompt)
    assert prompt.messages[0]["role"] == "system" and "[n]" in prompt.messages[0]["content"]
    assert "self.items.append((name, price))" in text and "`shop/cart.py`" in text
    assert "in class `Cart`" in text and DEFAULT_QUESTION in text
    assert "[1] `log_change` in `shop/log.py`" in text and "[2] `tax_rate` in `shop/tax.py`" in text
    assert text.index("[1]") < text.index("[2]")
    assert prompt.sources == related and prompt.num_ctx == MAX_NUM_CTX and not prompt.function_cut


def test_a_question_replaces_the_default_one():
    prompt = build_prompt(add_item(), [], "Why a tuple?", 8192)
    assert "Question: Why a tuple?" in user_text(prompt) and DEFAULT_QUESTION not in user_text(prompt)
    assert "Sources: none found." in user_text(prompt)


def test_secret_files_the_function_itself_and_repeats_are_never_sources():
    secret = Chunk("config/.env", "text", ".env", "window", Span(0, 0, 1, 0), Span(0, 0, 0, 4), "", "", "API_KEY=MARKER-123\n")
    pem = Chunk("keys/server.pem", "text", "server.pem", "window", Span(0, 0, 1, 0), Span(0, 0, 0, 4), "", "", "MARKER-456\n")
    other = function("shop/log.py", "log_change")
    prompt = build_prompt(add_item(), [secret, add_item(), other, pem, other], None, 8192)
    assert prompt.sources == [other]
    assert "MARKER" not in user_text(prompt)


def test_sources_are_trimmed_to_the_budget_best_first():
    many = [function(f"pkg/m{i}.py", f"helper_{i}", body_lines=40) for i in range(8)]
    prompt = build_prompt(add_item(), many, None, 2048)
    assert prompt.num_ctx == 2048
    assert 0 < len(prompt.sources) < len(many)
    assert prompt.sources == many[: len(prompt.sources)]
    total = sum(estimate_tokens(m["content"]) for m in prompt.messages)
    assert total <= 2048 - ANSWER_TOKENS


def test_a_huge_function_is_cut_to_fit_and_says_so():
    huge = function("big.py", "huge", body_lines=2000)
    prompt = build_prompt(huge, [function("a.py", "small")], None, 4096)
    total = sum(estimate_tokens(m["content"]) for m in prompt.messages)
    assert prompt.function_cut and "... (cut)" in user_text(prompt)
    assert total <= 4096 - ANSWER_TOKENS


def test_context_window_and_enclosing_class():
    assert context_window(131072) == MAX_NUM_CTX and context_window(512) == 2048 and context_window(4096) == 4096
    assert enclosing_class(add_item()) == "Cart"
    assert enclosing_class(function("a.py", "free")) is None


def test_cache_hits_the_same_text_and_goes_stale_when_it_changes(tmp_path):
    cache = ExplanationCache(tmp_path / "root-cache")
    chunk = add_item()
    cache.put("m:7b", chunk, "", "It appends [1].", [{"name": "log_change"}])
    hit = cache.get("m:7b", chunk)
    assert hit.markdown == "It appends [1]." and hit.sources == [{"name": "log_change"}]
    assert cache.get("other:1b", chunk) is None and cache.get("m:7b", chunk, "why?") is None
    edited = next(c for c in chunks("shop/cart.py", CART.replace("price))", "price, 1))")) if c.name == "Cart.add_item")
    assert cache.get("m:7b", edited) is None
    stale = cache.latest("m:7b", edited)
    assert stale is not None and stale.content_hash == chunk.content_hash != edited.content_hash
    assert ExplanationCache(tmp_path / "root-cache").get("m:7b", chunk).markdown == "It appends [1]."
