"""Agent kinds: an open, validated slug. Known kinds get a label and a monogram icon; any other
slug (`my-bot`) is kept as the client says and shown as it is."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

KIND_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_LENGTH = 40

# slug: (label, monogram). The monogram and the slug's colour (CSS .kind-<slug>) are the icon.
KNOWN: dict[str, tuple[str, str]] = {
    "claude-code": ("Claude Code", "CC"),
    "opencode": ("OpenCode", "OC"),
    "codex": ("Codex", "CX"),
    "gemini-cli": ("Gemini CLI", "GE"),
    "cursor": ("Cursor", "CU"),
    "copilot": ("GitHub Copilot", "GH"),
    "aider": ("Aider", "AI"),
    "amp": ("Amp", "AM"),
    "goose": ("Goose", "GO"),
    "custom": ("Custom", "··"),
}
# What clients and OTLP resources call themselves, mapped to the kind.
ALIASES = {
    "claude": "claude-code", "claude_code": "claude-code", "claudecode": "claude-code",
    "codex-cli": "codex", "codex_cli_rs": "codex", "codex_exec": "codex", "codex-exec": "codex",
    "gemini": "gemini-cli", "gemini_cli": "gemini-cli", "gemini-cli-a2a": "gemini-cli",
    "github-copilot": "copilot", "copilot-cli": "copilot", "github-copilot-cli": "copilot",
    "copilot-chat": "copilot", "cursor-agent": "cursor", "amp-cli": "amp", "goose-cli": "goose",
}


def normalize_kind(value: str) -> str:
    """A client's name for itself as a kind slug ("Claude Code" → claude-code); "" when nothing
    usable is left."""
    slug = re.sub(r"[^a-z0-9]+", "-", (value or "").strip().lower()).strip("-")[:MAX_LENGTH]
    slug = ALIASES.get(slug, ALIASES.get(slug.replace("-", "_"), slug))
    return slug if KIND_RE.match(slug) else ""


def validate_kind(value: str) -> None:
    if not isinstance(value, str) or len(value) > MAX_LENGTH or not KIND_RE.match(value):
        raise ValidationError(
            "A kind is a lowercase slug of letters, digits and dashes (at most 40), e.g. "
            f"{', '.join(list(KNOWN)[:4])} or your own."
        )


def kind_label(value: str) -> str:
    known = KNOWN.get(value)
    return known[0] if known else value


def kind_monogram(value: str) -> str:
    known = KNOWN.get(value)
    return known[1] if known else (value[:2].upper() or "··")


def kind_choices() -> list[tuple[str, str]]:
    return [(slug, label) for slug, (label, _) in KNOWN.items()]
