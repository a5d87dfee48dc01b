"""What the "Connect an agent" page tells a person to run, per agent, with the site's address
and (when one was just created) the project key filled in.

The commands are the ones clients/claude-code/README.md, clients/hooks/README.md and
clients/opencode/README.md document and the client tests run; the telemetry settings follow
each agent's own documentation (Claude Code's OTEL_* variables, Codex's `[otel]` table in
config.toml, Gemini CLI's `telemetry` settings). Pure functions: no database, easy to test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

KEY_PLACEHOLDER = "sbk_…"
BIN = "~/.switchboard/bin"
# The client scripts this server hands out at /downloads/<name> (apps/projects/connect_views).
DOWNLOADS = {
    "switchboard_hook.py": "clients/claude-code/switchboard_hook.py",
    "switchboard_hooks.py": "clients/hooks/switchboard_hooks.py",
    "switchboard.ts": "clients/opencode/switchboard.ts",
}
FROM_SERVER = ("Downloaded from this server (the same files as clients/ in the Switchboard "
               "repository). Python 3.9+, standard library only.")


def fetch_command(site_url: str, name: str, folder: str) -> str:
    return f"curl -fsSL {site_url}/downloads/{name} -o {folder}/{name}"


def copy_hooks(site_url: str) -> str:
    return "\n".join([f"mkdir -p {BIN}", fetch_command(site_url, "switchboard_hook.py", BIN),
                      fetch_command(site_url, "switchboard_hooks.py", BIN)])


@dataclass(frozen=True)
class Snippet:
    title: str
    body: str
    note: str = ""
    lang: str = "sh"


@dataclass(frozen=True)
class Guide:
    slug: str
    name: str
    summary: str  # one line under the tab: what the integration reports
    snippets: list[Snippet] = field(default_factory=list)
    after: str = ""  # what to do once the snippets ran (trust prompts, restarts)

    @property
    def icon(self) -> tuple[str, str]:
        """(kind for the CSS colour class, monogram), as agent cards show their kind."""
        return ICONS.get(self.slug, ("custom", "··"))


def _env(site_url: str, key: str) -> str:
    return f"export SWITCHBOARD_URL={site_url}\nexport SWITCHBOARD_API_KEY={key}"


def _otel_env(site_url: str, key: str) -> list[str]:
    return [
        "export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        f"export OTEL_EXPORTER_OTLP_ENDPOINT={site_url}",
        f'export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {key}"',
    ]


def _hooks_guide(slug: str, name: str, summary: str, install: list[str], site_url: str,
                 key: str, *, after: str = "", extra: list[Snippet] | None = None) -> Guide:
    return Guide(
        slug=slug,
        name=name,
        summary=summary,
        snippets=[
            Snippet(
                "1. Get the two hook scripts on the agent's machine",
                copy_hooks(site_url),
                f"{FROM_SERVER} The adapter needs switchboard_hook.py beside it.",
            ),
            Snippet("2. Register the hooks", "\n".join(install),
                    "It merges into the agent's hook file; your other hooks stay."),
            Snippet(
                "3. Give the agent Switchboard's address and the key",
                _env(site_url, key),
                "In the environment the agent starts in (shell profile, service unit, CI secrets).",
            ),
            *(extra or []),
        ],
        after=after,
    )


def claude_code(site_url: str, key: str) -> Guide:
    env = json.dumps({"SWITCHBOARD_URL": site_url, "SWITCHBOARD_API_KEY": key},
                     ensure_ascii=False, indent=2)
    otel = "\n".join([
        "export CLAUDE_CODE_ENABLE_TELEMETRY=1",
        "export OTEL_METRICS_EXPORTER=otlp",
        "export OTEL_LOGS_EXPORTER=otlp",
        *_otel_env(site_url, key),
        "# optional: resource attributes of your own become the agent's labels",
        'export OTEL_RESOURCE_ATTRIBUTES="team=platform"',
    ])
    return Guide(
        slug="claude-code",
        name="Claude Code",
        summary="Status, every tool call as a span, sub-agents, token usage and cost; the control "
                "room can stop it, give it tasks and answer its permission prompts.",
        snippets=[
            Snippet(
                "1. Get the hook and register it for every hook event",
                "\n".join([
                    "mkdir -p ~/.claude/hooks",
                    fetch_command(site_url, "switchboard_hook.py", "~/.claude/hooks"),
                    "python3 ~/.claude/hooks/switchboard_hook.py --install",
                ]),
                f"{FROM_SERVER} --install keeps your other hooks (--install "
                ".claude/settings.json for one repository).",
            ),
            Snippet("2. Add the address and key to ~/.claude/settings.json",
                    f'"env": {env}', "Merge it into the file's top-level object.", lang="json"),
            Snippet(
                "Optional: Claude Code's own OpenTelemetry",
                otel,
                "Adds Claude Code's metrics and events (cost, tokens, active time, tool "
                "decisions) over OTLP/HTTP. Works alone or beside the hook; usage is merged, "
                "never counted twice.",
            ),
        ],
        after="Start a Claude Code session: it appears within a second.",
    )


def codex(site_url: str, key: str) -> Guide:
    def exporter(signal: str) -> str:
        return (f'{{ otlp-http = {{ endpoint = "{site_url}/v1/{signal}", protocol = "binary", '
                f'headers = {{ Authorization = "Bearer {key}" }} }} }}')

    # As tests/otlp/test_codex_cli.py runs the real Codex: every signal to Switchboard (an
    # unset metrics_exporter sends Codex's metrics to its built-in default instead).
    toml = "\n".join([
        "[otel]",
        "log_user_prompt = false",
        f"exporter = {exporter('logs')}",
        f"trace_exporter = {exporter('traces')}",
        f"metrics_exporter = {exporter('metrics')}",
    ])
    return _hooks_guide(
        "codex", "Codex",
        "Status, tool calls as spans, token usage from the rollout, sub-agents and remote "
        "approval; stop, sleep and tasks from the control room.",
        [f"python3 {BIN}/switchboard_hooks.py install codex      # ~/.codex/hooks.json"],
        site_url, key,
        after="Codex runs new hooks only once you trust them: open codex, type /hooks and trust "
              "the Switchboard entries (again after each re-install).",
        extra=[Snippet(
            "Optional: Codex's own OpenTelemetry, in ~/.codex/config.toml",
            toml,
            "Codex posts each signal to its endpoint exactly as written (so each ends in "
            "/v1/<signal>); Switchboard reads its log events (API requests, token counts, tool "
            "results). Set all three, or Codex sends its metrics to its own default.",
            lang="toml",
        )],
    )


def gemini_cli(site_url: str, key: str) -> Guide:
    settings = json.dumps({"telemetry": {
        "enabled": True,
        "target": "local",
        "otlpEndpoint": site_url,
        "otlpProtocol": "http",
        "logPrompts": False,
    }}, indent=2)
    return _hooks_guide(
        "gemini-cli", "Gemini CLI",
        "Status, tool calls as spans, permission prompts; stop, sleep and tasks from the control "
        "room. Token usage comes from its telemetry (optional step).",
        [f"python3 {BIN}/switchboard_hooks.py install gemini-cli   # ~/.gemini/settings.json"],
        site_url, key,
        extra=[
            Snippet(
                "Optional: Gemini CLI's telemetry, in ~/.gemini/settings.json",
                settings,
                'Merge it into the file. "otlpProtocol": "http" matters: the default is gRPC, '
                "which Switchboard does not take.",
                lang="json",
            ),
            Snippet(
                "… and the key for its exporter",
                f'export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {key}"',
                "Gemini CLI's OTLP exporters send the headers of this standard variable.",
            ),
        ],
    )


def cursor(site_url: str, key: str) -> Guide:
    return _hooks_guide(
        "cursor", "Cursor",
        "Status, shell and MCP calls and file edits as spans, errors; stop and sleep deny the "
        "next call, a task arrives as the stop hook's follow-up.",
        [
            f"python3 {BIN}/switchboard_hooks.py install cursor                      "
            "# ~/.cursor/hooks.json",
            f"python3 {BIN}/switchboard_hooks.py install cursor .cursor/hooks.json   "
            "# or one project",
        ],
        site_url, key,
        after="Cursor starts its hooks with its own environment: set the variables where Cursor "
              "is launched from, then restart it.",
    )


def copilot(site_url: str, key: str) -> Guide:
    return _hooks_guide(
        "copilot", "GitHub Copilot",
        "Copilot CLI and the cloud agent: status, tool calls as spans, errors; stop, sleep and "
        "tasks from the control room.",
        [f"python3 {BIN}/switchboard_hooks.py install copilot    "
         "# .github/hooks/switchboard.json"],
        site_url, key,
        after="For the cloud agent, commit the hook file and both scripts, make SWITCHBOARD_URL "
              "and SWITCHBOARD_API_KEY Copilot environment secrets, and add this server's host "
              "to the agent's firewall allowlist.",
    )


def opencode(site_url: str, key: str) -> Guide:
    return Guide(
        slug="opencode",
        name="OpenCode",
        summary="Status, tool calls as spans, sub-agent sessions, token usage with OpenCode's own "
                "cost; stop, sleep, tasks and remote approval from the control room.",
        snippets=[
            Snippet(
                "1. Get the plugin",
                "mkdir -p ~/.config/opencode/plugins\n"
                + fetch_command(site_url, "switchboard.ts", "~/.config/opencode/plugins"),
                "Downloaded from this server (clients/opencode in the Switchboard repository). "
                "For one project only: .opencode/plugins/ in that repository.",
            ),
            Snippet("2. Start OpenCode with the address and key", _env(site_url, key)),
        ],
        after="OpenCode loads the plugin at start-up; the session appears when it is created.",
    )


def any_cli(site_url: str, key: str) -> Guide:
    return Guide(
        slug="any-cli",
        name="Aider / any CLI",
        summary="Any command under the run -- wrapper: registered, working while it runs, "
                "heartbeats, then stopped or error with its exit code; a stop ends it.",
        snippets=[
            Snippet("1. Get the two scripts", copy_hooks(site_url), FROM_SERVER),
            Snippet("2. The address and key", _env(site_url, key)),
            Snippet(
                "3. Run the agent under the wrapper",
                f"python3 {BIN}/switchboard_hooks.py run -- ./my-agent.sh\n"
                f"python3 {BIN}/switchboard_hooks.py run --kind amp --name release-bot "
                "-- ./my-agent.sh",
                "stdin, stdout, signals and the exit code pass through.",
            ),
            Snippet(
                "Aider: also shows it blocked at its prompt",
                f"python3 {BIN}/switchboard_hooks.py run -- \\\n"
                "  aider --notifications --notifications-command "
                f'"python3 {BIN}/switchboard_hooks.py notify aider"',
            ),
        ],
    )


def any_otel(site_url: str, key: str) -> Guide:
    generic = "\n".join([
        *_otel_env(site_url, key),
        'export OTEL_SERVICE_NAME="my-agent"',
    ])
    signals = "\n".join(
        f"{site_url}/v1/{s}    (also {site_url}/api/v1/otlp/v1/{s})"
        for s in ("logs", "metrics", "traces")
    )
    return Guide(
        slug="otel",
        name="Any OpenTelemetry agent",
        summary="Anything that exports OTLP over HTTP: spans and events named with the GenAI "
                "conventions (gen_ai.*) become agents, tool spans and token usage.",
        snippets=[
            Snippet(
                "The standard exporter variables",
                generic,
                "OTLP/HTTP only, protobuf (http/protobuf) or JSON (http/json); gRPC is not "
                "supported. Resource attributes of your own (OTEL_RESOURCE_ATTRIBUTES=team=…) "
                "become the agent's labels.",
            ),
            Snippet("Where each signal goes", signals,
                    "Exporters add /v1/<signal> to OTEL_EXPORTER_OTLP_ENDPOINT themselves.",
                    lang="text"),
        ],
    )


ICONS = {
    "claude-code": ("claude-code", "CC"), "codex": ("codex", "CX"),
    "gemini-cli": ("gemini-cli", "GE"), "cursor": ("cursor", "CU"), "copilot": ("copilot", "GH"),
    "opencode": ("opencode", "OC"), "any-cli": ("aider", ">_"), "otel": ("custom", "OT"),
}
BUILDERS = (claude_code, codex, gemini_cli, cursor, copilot, opencode, any_cli, any_otel)
SLUGS = ("claude-code", "codex", "gemini-cli", "cursor", "copilot", "opencode", "any-cli", "otel")


def guides(*, site_url: str, key: str = "") -> list[Guide]:
    """Every agent's guide, in tab order, for `site_url` and `key` (placeholder when empty)."""
    site_url = site_url.rstrip("/")
    return [build(site_url, key or KEY_PLACEHOLDER) for build in BUILDERS]


def guide_name(slug: str) -> str:
    """The agent's display name for a guide slug ("" when unknown)."""
    for guide in guides(site_url=""):
        if guide.slug == slug:
            return guide.name
    return ""
