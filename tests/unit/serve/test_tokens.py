"""The token file: its format, what it refuses (never showing a token), and the check."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.scoring.errors import ConfigError
from consumer.serve.tokens import SCOPES, load_tokens, parse_tokens

A = "3f9c1e0b7d2a4c5e8f6a1b2c3d4e5f60"
B = "Zm9vYmFyYmF6cXV4LXRva2VuLTAx_.~+/=="
C = "c0ffee00c0ffee00c0ffee00"


def test_one_token_a_line_with_comments_blank_lines_and_scopes() -> None:
    text = f"# clients\n\n  {A}  \r\n# Prometheus\n{B} metrics\n{C} score metrics\n".encode()
    tokens = parse_tokens(text, "f")
    assert tokens.scopes(A.encode()) == frozenset(SCOPES)
    assert tokens.scopes(B.encode()) == frozenset({"metrics"})
    assert tokens.scopes(C.encode()) == frozenset({"score", "metrics"})
    assert tokens.scopes(b"3f9c1e0b7d2a4c5e8f6a1b2c3d4e5f6") is None  # one character short
    assert tokens.scopes(b"") is None


def test_the_same_token_twice_has_the_scopes_of_both_lines() -> None:
    tokens = parse_tokens(f"{A} score\n{A} metrics\n".encode(), "f")
    assert tokens.scopes(A.encode()) == frozenset({"score", "metrics"})
    assert len(tokens.entries) == 1


def test_only_digests_are_kept() -> None:
    tokens = parse_tokens(A.encode(), "f")
    assert A.encode() not in repr(tokens).encode() and A not in repr(tokens)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"", "f lists no token"),
        (b"# only\n\n  # comments\n", "f lists no token"),
        (b"short-token\n", "f line 1: not a usable bearer token"),
        (f"# x\n{A[:-1]}\u00e9\n".encode(), "f line 2: not a usable bearer token"),
        (f"{A}\n{A} admin\n".encode(), "f line 2: after the token only scopes may follow"),
        (f"{A} {B}\n".encode(), "f line 1: after the token only scopes may follow"),
    ],
)
def test_a_file_with_an_unusable_line_or_no_token_is_refused_without_showing_it(
    text: bytes, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_tokens(text, "f")
    assert str(info.value).startswith(message)
    for secret in (A, B, A[:8], B[:8], "short-token", "admin"):
        assert secret not in str(info.value)


def test_load_tokens_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"--auth-tokens-file {tmp_path}/nope: No such file"):
        load_tokens(tmp_path / "nope")
    (tmp_path / "tokens").write_text(A)
    assert load_tokens(tmp_path / "tokens").scopes(A.encode()) is not None
