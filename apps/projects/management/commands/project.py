"""`manage.py project create <slug> --name "<name>"` and `manage.py project list`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.projects import services
from apps.projects.models import ApiKey, Project


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Create and list projects."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="{create,list}")
        sub.required = True
        create = sub.add_parser("create", help="Create a project.")
        create.add_argument("slug", help="Lower-case letters, digits and hyphens, e.g. apollo.")
        create.add_argument("--name", help="Display name (default: the slug).")
        create.add_argument("--description", default="")
        listing = sub.add_parser("list", help="List projects.")
        listing.add_argument("--all", action="store_true", help="Include archived projects.")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"handle_{options['action']}")(**options)

    def handle_create(self, *, slug: str, name: str | None, description: str, **_: Any) -> None:
        slug = slug.strip().lower()
        if slug in services.RESERVED_SLUGS:
            raise CommandError(f"slug '{slug}' is reserved; pick another one.")
        if Project.objects.filter(slug=slug).exists():
            raise CommandError(f"a project with slug '{slug}' already exists.")
        try:
            project = services.project_create(
                name=(name or slug), slug=slug, description=description, actor_label="manage.py"
            )
        except ValidationError as exc:
            raise CommandError(f"cannot create project: {validation_message(exc)}") from None
        self.stdout.write(f"Created project {project.slug} ({project.name}).")

    def handle_list(self, *, all: bool, **_: Any) -> None:  # noqa: A002 (the option's name)
        projects = Project.objects.all() if all else Project.objects.active()
        rows = [
            (
                p.slug,
                p.name,
                "archived" if p.archived else "active",
                ApiKey.objects.active().filter(project=p).count(),
            )
            for p in projects
        ]
        if not rows:
            self.stdout.write(
                'No projects. Create one: manage.py project create <slug> --name "<name>"'
            )
            return
        width = max(len(r[0]) for r in rows)
        for slug, name, state, keys in rows:
            self.stdout.write(f"{slug:<{width}}  {state:<8}  {keys} active key(s)  {name}")
