"""Owners manage a project's members on its members page; scripts use `grant` and `revoke`."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from stories import permissions
from stories.models import Membership, Role
from tests import factories


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner(shop):
    user = factories.make_user("olivia")
    permissions.grant(user, shop, Role.OWNER)
    return user


def members_url(project) -> str:
    return reverse("stories:project_members", kwargs={"project_key": project.key})


def test_an_owner_adds_changes_and_removes_members(shop, owner):
    newcomer = factories.make_user("nina")
    client = signed_in(owner)
    page = client.get(members_url(shop)).content.decode()
    assert "olivia" in page and "Add a member" in page

    response = client.post(members_url(shop), {"username": "nina", "role": "editor"}, follow=True)
    assert "nina is now editor of SHOP." in response.content.decode()
    assert permissions.role_in(newcomer, shop) == Role.EDITOR
    client.post(members_url(shop), {"username": "nina", "role": "viewer"})
    assert Membership.objects.get(user=newcomer).role == Role.VIEWER

    remove = reverse("stories:remove_member", kwargs={"project_key": shop.key, "user_id": newcomer.pk})
    response = client.post(remove, follow=True)
    assert "nina is no longer a member of SHOP." in response.content.decode()
    assert not Membership.objects.filter(user=newcomer).exists()


def test_an_unknown_user_is_an_error_in_the_form(shop, owner):
    page = signed_in(owner).post(members_url(shop), {"username": "nobody", "role": "viewer"}).content.decode()
    assert "There is no active user &#x27;nobody&#x27;." in page
    assert Membership.objects.count() == 1


def test_the_last_owner_can_be_neither_removed_nor_demoted(shop, owner):
    client = signed_in(owner)
    response = client.post(members_url(shop), {"username": "olivia", "role": "editor"}, follow=True)
    assert "olivia is the last owner of SHOP: make someone else an owner first." in response.content.decode()
    remove = reverse("stories:remove_member", kwargs={"project_key": shop.key, "user_id": owner.pk})
    client.post(remove)
    assert Membership.objects.get(user=owner).role == Role.OWNER


def test_editors_and_viewers_read_the_list_but_cannot_change_it(shop, owner):
    editor = factories.make_user("eddie")
    permissions.grant(editor, shop, Role.EDITOR)
    client = signed_in(editor)
    page = client.get(members_url(shop)).content.decode()
    assert "olivia" in page and "Owner" in page and "Add a member" not in page
    assert client.post(members_url(shop), {"username": "eddie", "role": "owner"}).status_code == 403
    assert permissions.role_in(editor, shop) == Role.EDITOR


def test_the_stories_page_links_each_project_to_its_members(shop, owner):
    factories.make_story(project=shop, key="SHOP-1")
    page = signed_in(owner).get(reverse("stories:list")).content.decode()
    assert f'href="{members_url(shop)}"' in page


def test_grant_and_revoke_commands(shop, capsys):
    user = factories.make_user("script-user")
    call_command("grant", "script-user", "shop", "editor")
    assert "script-user is now editor of SHOP." in capsys.readouterr().out
    assert permissions.role_in(user, shop) == Role.EDITOR
    call_command("grant", "script-user", "SHOP", "editor")
    assert "already was editor" in capsys.readouterr().out
    call_command("revoke", "script-user", "SHOP")
    assert "no longer a member of SHOP" in capsys.readouterr().out
    assert not Membership.objects.filter(user=user).exists()
    with pytest.raises(CommandError, match="There is no user 'ghost'"):
        call_command("grant", "ghost", "SHOP", "viewer")
    with pytest.raises(CommandError, match="There is no project 'NOPE'"):
        call_command("revoke", "script-user", "NOPE")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("grant", "script-user", "SHOP", "admin")
