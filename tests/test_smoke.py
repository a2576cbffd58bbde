from stories.models import Scenario


def test_the_project_boots_and_a_story_renders_as_a_feature(db):
    from tests.factories import make_test_case

    test_case = make_test_case(scenarios=2)
    text = test_case.feature_text()
    assert text.startswith(f"@{test_case.story.key} @tc-{test_case.pk} @functional @priority-medium\n")
    assert text.count("Scenario:") == 2
    assert Scenario.objects.count() == 2


def test_starting_django_does_not_import_the_gemini_sdk():
    # The SDK costs about a second of CPU; the web server, commands and the offline generator never need it.
    import subprocess
    import sys

    from tests.services import ROOT

    code = "import django, sys; django.setup(); print('google.genai' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"DJANGO_SETTINGS_MODULE": "qaforge.settings", "DEBUG": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.stdout.strip() == "False", result.stderr
