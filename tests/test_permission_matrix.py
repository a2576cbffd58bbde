"""Every URL × every role × GET and POST gets the status `tests/permission_rules.py` says.

The URLs are read from the URL conf (and the live-updates app's routes), so a new URL without a rule fails
`test_every_url_has_a_rule`. Each role meets a fresh world (built and rolled back inside the test), so a POST that
deletes or saves cannot change what the next role sees.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from generation import events
from generation.models import GenerationJob, JobStatus, SuggestedTestCase
from stories import permissions
from stories.models import ImportJob, Role, Scenario, TestCase, UserStory
from tests import factories
from tests.permission_rules import NOT_IN_MATRIX, ROLES, RULES, URL_KWARGS, expected_status
from tests.sse import Stream, session_key

METHODS = ("GET", "POST")
PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def django_urls() -> list[tuple[str, str]]:
    """(rule key, route) of every pattern in the URL conf, namespaces in NOT_IN_MATRIX left out."""
    found = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = pattern.namespace or namespace
                if inner not in NOT_IN_MATRIX:
                    walk(pattern.url_patterns, route, ":".join(filter(None, [namespace, pattern.namespace])))
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
                found.append((name or "/" + route, route))

    walk(get_resolver().url_patterns, "", "")
    return found


def stream_urls() -> list[tuple[str, str]]:
    return [(route.path, route.path) for route in events.app.routes]


ALL_URLS = django_urls() + stream_urls()


def test_every_url_has_a_rule():
    missing = sorted(key for key, _ in ALL_URLS if key not in RULES)
    assert not missing, f"add a rule for each of these URLs to tests/permission_rules.py: {missing}"
    stale = sorted(set(RULES) - {key for key, _ in ALL_URLS})
    assert not stale, f"rules for URLs that no longer exist: {stale}"
    for key, rules in RULES.items():
        assert set(rules) == set(METHODS), f"{key}: give a rule for GET and for POST"


@dataclass
class World:
    story: UserStory
    test_case: TestCase
    job: GenerationJob
    import_job: ImportJob
    users: dict

    @property
    def viewer(self):
        return self.users["viewer"]


def make_world() -> World:
    shop = factories.make_project(key="SHOP", name="Web shop")
    bank = factories.make_project(key="BANK", name="Bank")
    story = factories.make_story(project=shop, key="SHOP-1")
    test_case = factories.make_test_case(story)
    job = GenerationJob.objects.create(story=story, status=JobStatus.READY, progress=100, generator="offline")
    SuggestedTestCase.objects.create(
        job=job, title="Suggested", scenarios=[{"name": "S", "steps": Scenario.objects.get().steps, "tags": []}]
    )
    users = {"anonymous": AnonymousUser(), "superuser": factories.make_user("root", is_superuser=True, is_staff=True)}
    users["outsider"] = factories.make_user("outsider")
    permissions.grant(users["outsider"], bank, Role.VIEWER)
    for role in (Role.VIEWER, Role.EDITOR, Role.OWNER):
        users[str(role)] = factories.make_user(str(role))
        permissions.grant(users[str(role)], shop, role)
    import_job = ImportJob.objects.create(
        created_by=users["editor"], project=shop, original_name="backlog.csv", status=ImportJob.Status.PREVIEW
    )
    return World(story, test_case, job, import_job, users)


def resolve(world: World, value: str) -> str:
    """ "story.key" -> the world's story key; anything else is taken as it is."""
    head, _, attr = value.partition(".")
    if attr and hasattr(world, head):
        return str(getattr(getattr(world, head), attr))
    return value


def build_path(world: World, route: str) -> str:
    def param(match: re.Match) -> str:
        name = match["name"]
        assert name in URL_KWARGS, f"add the path parameter {name!r} to URL_KWARGS in tests/permission_rules.py"
        return resolve(world, URL_KWARGS[name])

    return "/" + PARAM.sub(param, route).lstrip("/")


def kind_of(key: str) -> str:
    return "api" if key.startswith("api:") else "sse" if key.startswith("/events/") else "page"


DJANGO_CASES = [(key, route, method) for key, route in django_urls() for method in METHODS if key in RULES]


@pytest.mark.parametrize("key, route, method", DJANGO_CASES, ids=[f"{k} {m}" for k, _, m in DJANGO_CASES])
def test_each_role_gets_the_status_of_the_rule(db, key, route, method):
    rule = RULES[key][method]
    wrong = []
    for role in ROLES:
        with transaction.atomic():
            world = make_world()
            client = Client()
            if role != "anonymous":
                client.force_login(world.users[role])
            path = build_path(world, route)
            data = {name: resolve(world, value) for name, value in (rule.data if rule else {}).items()}
            response = client.get(path, data) if method == "GET" else client.post(path, data)
            expected = expected_status(rule, role, kind_of(key))
            if response.status_code != expected:
                wrong.append(f"{role}: {response.status_code} (expected {expected})")
            if role == "anonymous" and expected == 302 and kind_of(key) == "page" and key not in ("/", "login"):
                assert response["Location"].startswith(reverse("login")), f"{key} {method}: not sent to log in"
            transaction.set_rollback(True)
    assert not wrong, f"{method} {key}: " + "; ".join(wrong)


@pytest.mark.django_db(transaction=True)
def test_each_role_gets_the_status_of_the_rule_on_the_live_updates_streams():
    # The stream reads the database from its own threads, so this world is committed (and not rolled back: no
    # request here changes anything).
    world = make_world()
    sessions = {role: session_key(user) for role, user in world.users.items() if role != "anonymous"}

    async def status(path: str, role: str, method: str) -> int:
        stream = Stream(path, sessions.get(role))
        stream.scope["method"] = method
        await stream.open()
        await stream.close()
        return stream.status

    wrong = []
    for key, route in stream_urls():
        for method in METHODS:
            rule = RULES[key][method]
            query = "&".join(f"{k}={resolve(world, v)}" for k, v in (rule.data if rule else {}).items())
            for role in ROLES:
                path = re.sub(r"\{(\w+)\}", lambda m: resolve(world, URL_KWARGS[m[1]]), route)  # Starlette params
                got = asyncio.run(status(f"{path}?{query}", role, method))
                expected = expected_status(rule, role, "sse")
                if got != expected:
                    wrong.append(f"{method} {key} {role}: {got} (expected {expected})")
    events.watcher.close_connection()
    assert not wrong, "; ".join(wrong)


def test_the_admin_is_for_staff_only(db):
    world = make_world()
    for role in ("owner", "superuser"):
        client = Client()
        client.force_login(world.users[role])
        for url in [reverse("admin:index"), reverse("admin:stories_userstory_changelist")]:
            response = client.get(url)
            if role == "superuser":
                assert response.status_code == 200, url
            else:  # a project owner who is not staff is sent to the admin's login
                assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
