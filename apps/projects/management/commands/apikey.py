"""`manage.py apikey create --project <slug> --scope write --name <label>` prints the raw key as
the last line of its output, so scripts can take it with `| tail -n 1`. Also `list` and
`revoke <prefix>`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.projects import services
from apps.projects.management.commands.project import validation_message
from apps.projects.models import KEY_PREFIX, ApiKey, ApiKeyScope, Project, hash_key


class Command(BaseCommand):
    help = "Create, list and revoke project API keys."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="{create,list,revoke}")
        sub.required = True
        create = sub.add_parser("create", help="Create a key and print it once.")
        create.add_argument("--project", required=True, help="Project slug.")
        create.add_argument("--scope", default=ApiKeyScope.WRITE, help="read or write (default).")
        create.add_argument("--name", required=True, help="A label saying where the key is used.")
        listing = sub.add_parser("list", help="List keys (prefixes only).")
        listing.add_argument("--project", help="Only this project's keys.")
        revoke = sub.add_parser("revoke", help="Revoke a key by its visible prefix.")
        revoke.add_argument("prefix", help="The prefix shown in lists, e.g. sbk_AbC123.")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"handle_{options['action']}")(**options)

    def _project(self, slug: str) -> Project:
        project = Project.objects.filter(slug=slug.strip().lower()).first()
        if project is None:
            known = ", ".join(Project.objects.active().values_list("slug", flat=True)) or "none"
            raise CommandError(f"no project with slug '{slug}' (projects: {known}).")
        return project

    def handle_create(self, *, project: str, scope: str, name: str, **_: Any) -> None:
        proj = self._project(project)
        if proj.archived:
            raise CommandError(f"project '{proj.slug}' is archived; unarchive it first.")
        if scope not in ApiKeyScope.values:
            raise CommandError(
                f"--scope must be one of {', '.join(ApiKeyScope.values)}, not '{scope}'."
            )
        if not name.strip():
            raise CommandError("--name must not be empty.")
        try:
            key, raw = services.api_key_create(
                project=proj, name=name, scope=scope, actor_label="manage.py"
            )
        except ValidationError as exc:
            raise CommandError(f"cannot create key: {validation_message(exc)}") from None
        self.stdout.write(
            f'Created {key.get_scope_display().lower()} key {key.prefix}… "{key.name}" for '
            f"project {proj.slug}. It is shown once, below; store it now."
        )
        self.stdout.write(raw)

    def handle_list(self, *, project: str | None, **_: Any) -> None:
        keys = ApiKey.objects.select_related("project").order_by("project__slug", "-created_at")
        if project:
            keys = keys.filter(project=self._project(project))
        if not keys:
            self.stdout.write("No API keys.")
            return
        for key in keys:
            state = "active" if key.is_active else "revoked"
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never used"
            self.stdout.write(
                f"{key.prefix}  {key.project.slug}  {key.scope:<5}  {state:<7}  {used}  {key.name}"
            )

    def handle_revoke(self, *, prefix: str, **_: Any) -> None:
        prefix = prefix.strip().rstrip("…").rstrip(".")
        if not prefix.startswith(KEY_PREFIX) or len(prefix) <= len(KEY_PREFIX):
            raise CommandError(f"give the key's prefix as shown in lists, e.g. {KEY_PREFIX}AbC123.")
        if len(prefix) > len(KEY_PREFIX) + 6:
            # A whole raw key was pasted; match it exactly rather than by prefix.
            matches = list(
                ApiKey.objects.filter(key_hash=hash_key(prefix)).select_related("project")
            )
        else:
            matches = list(ApiKey.objects.filter(prefix=prefix).select_related("project"))
        if not matches:
            raise CommandError(f"no API key with prefix '{prefix}'.")
        active = [k for k in matches if k.is_active]
        if not active:
            raise CommandError(f"key {prefix}… is already revoked.")
        if len(active) > 1:
            projects = ", ".join(k.project.slug for k in active)
            raise CommandError(
                f"{len(active)} active keys share prefix {prefix} ({projects}); "
                "revoke them on the project's keys page."
            )
        key = active[0]
        services.api_key_revoke(key=key, actor_label="manage.py")
        self.stdout.write(f'Revoked key {key.prefix}… "{key.name}" of project {key.project.slug}.')
