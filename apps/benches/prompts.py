"""What a bench run asks: a prompt of about `prompt_tokens` tokens.

"fixed" repeats one short English sentence (about one token per word on the tokenizers of the
common open models) to the length asked; "builtin" cycles through a small set of coding
requests, each padded or cut to the same length, so prefix caching cannot answer every request
from the first one.
"""

from __future__ import annotations

FILLER = "The quick brown fox jumps over the lazy dog and keeps on running. "
BUILTIN = (
    "Write a Python function that merges two sorted lists into one sorted list.",
    "Explain what a race condition is and show how a lock prevents one in Go.",
    "Refactor this SQL query to avoid a correlated subquery: SELECT * FROM orders o WHERE "
    "total > (SELECT avg(total) FROM orders WHERE customer_id = o.customer_id).",
    "Write a unit test for a function that parses ISO 8601 dates, including time zones.",
    "Review this shell script for quoting bugs: for f in $(ls *.txt); do cat $f; done",
    "Describe how to add an index to a large PostgreSQL table without blocking writes.",
    "Implement a token bucket rate limiter in TypeScript with a refill rate per second.",
    "Summarise the difference between optimistic and pessimistic locking in one paragraph.",
)


def _words(text: str, count: int) -> str:
    words = text.split()
    out: list[str] = []
    while len(out) < count:
        out.extend(words)
    return " ".join(out[:count])


def prompt_for(*, prompt_set: str, prompt_tokens: int, index: int = 0) -> str:
    tokens = max(1, prompt_tokens)
    if prompt_set == "builtin":
        head = BUILTIN[index % len(BUILTIN)]
        need = tokens - len(head.split())
        return head if need <= 0 else f"{head} Context: {_words(FILLER, need)}"
    return _words(FILLER, tokens)
