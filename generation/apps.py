import sys

from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Test generation"

    def ready(self) -> None:
        if sys.argv[1:2] == ["qcluster"]:
            # The cluster forks its workers from this process: importing the Gemini SDK (about 1 s of CPU) and
            # building its TLS context here, once, spares every worker doing it on its first job (measured: ten
            # fresh workers on two cores added about 2 x L to ten parallel jobs).
            from django.conf import settings

            from generation import worker
            from generation.engine import gemini

            gemini.preload(settings.GEMINI_MODEL)
            worker.install()  # SIGTERM / Ctrl-C: running jobs go back to the queue at once
