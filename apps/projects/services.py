"""Writes to projects and API keys. Each one leaves an audit entry."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify

from apps.core.audit import audit_record
from apps.projects.authentication import forget_api_keys
from apps.projects.models import ApiKey, ApiKeyScope, Project

# Slugs that would collide with fixed URLs (/projects/new/, /api/v1/projects/current) or
# with `?project=all`.
RESERVED_SLUGS = frozenset({"new", "all", "current"})


def slug_suggest(name: str) -> str:
    """A free slug derived from `name`: `apollo`, then `apollo-2`, `apollo-3`, ..."""
    base = slugify(name)[:50].strip("-") or "project"
    if base in RESERVED_SLUGS:
        base = f"{base}-project"
    slug, n = base, 1
    while Project.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def project_create(
    *,
    name: str,
    slug: str = "",
    description: str = "",
    actor: Any = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
) -> Project:
    project = Project(name=name.strip(), slug=slug or slug_suggest(name), description=description)
    project.full_clean()
    project.save()
    audit_record(
        "project.created",
        actor=actor,
        request=request,
        target=project,
        data={"slug": project.slug, "name": project.name},
        actor_label=actor_label,
    )
    return project


@transaction.atomic
def project_update(
    *,
    project: Project,
    actor: Any = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
    **fields: str,
) -> Project:
    """Change name, slug and/or description; the audit entry lists what changed."""
    allowed = {"name", "slug", "description"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"cannot update {', '.join(sorted(unknown))}")
    changed = {k: v for k, v in fields.items() if getattr(project, k) != v}
    if not changed:
        return project
    before = {k: getattr(project, k) for k in changed}
    for key, value in changed.items():
        setattr(project, key, value)
    project.full_clean()
    project.version += 1
    project.save()
    audit_record(
        "project.updated",
        actor=actor,
        request=request,
        target=project,
        data={"changed": {k: [before[k], v] for k, v in changed.items()}},
        actor_label=actor_label,
    )
    return project


@transaction.atomic
def project_set_archived(
    *,
    project: Project,
    archived: bool,
    actor: Any = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
) -> bool:
    """Archive or unarchive. Archived projects drop out of the selector and their API keys stop
    working (ApiKeyAuthentication refuses them). True if something changed."""
    updated = Project.objects.filter(pk=project.pk, archived=not archived).update(archived=archived)
    if not updated:
        return False
    forget_api_keys()
    transaction.on_commit(forget_api_keys)
    project.archived = archived
    audit_record(
        "project.archived" if archived else "project.unarchived",
        actor=actor,
        request=request,
        target=project,
        actor_label=actor_label,
    )
    return True


@transaction.atomic
def api_key_create(
    *,
    project: Project,
    name: str,
    scope: str = ApiKeyScope.WRITE,
    created_by: Any = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
) -> tuple[ApiKey, str]:
    """A new key and its raw secret. The raw secret is returned here and never stored."""
    raw, prefix, digest = ApiKey.generate()
    if created_by is not None and not getattr(created_by, "is_authenticated", False):
        created_by = None
    key = ApiKey(
        project=project,
        name=name.strip(),
        scope=scope,
        prefix=prefix,
        key_hash=digest,
        created_by=created_by,
    )
    key.full_clean()
    key.save()
    audit_record(
        "apikey.created",
        actor=created_by,
        request=request,
        target=key,
        data={"project": project.slug, "prefix": prefix, "scope": scope},
        actor_label=actor_label,
    )
    return key, raw


@transaction.atomic
def api_key_revoke(
    *,
    key: ApiKey,
    actor: Any = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
) -> bool:
    """Revoke once; revoking a revoked key changes nothing. True if this call revoked it."""
    now = timezone.now()
    updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now)
    if not updated:
        return False
    forget_api_keys()
    transaction.on_commit(forget_api_keys)
    key.revoked_at = now
    audit_record(
        "apikey.revoked",
        actor=actor,
        request=request,
        target=key,
        data={"project": key.project.slug, "prefix": key.prefix},
        actor_label=actor_label,
    )
    return True
