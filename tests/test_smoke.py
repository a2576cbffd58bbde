from stories.models import Scenario


def test_the_project_boots_and_a_story_renders_as_a_feature(db):
    from tests.factories import make_test_case

    test_case = make_test_case(scenarios=2)
    text = test_case.feature_text()
    assert text.startswith("@functional")
    assert text.count("Scenario:") == 2
    assert Scenario.objects.count() == 2
