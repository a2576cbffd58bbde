import pytest

from tests import factories


@pytest.fixture
def shop(db):
    """Project SHOP with no members (unlike the `project` fixture, whose lead is an editor)."""
    return factories.make_project(key="SHOP", name="Web shop")


@pytest.fixture
def bank(db):
    return factories.make_project(key="BANK", name="Bank")
