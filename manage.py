#!/usr/bin/env python
"""Django's command-line utility. Runs under this checkout's .venv even when started by another Python
(`python3 manage.py ...` after `make run`), reports a missing or wrong setting in one line, and ends on Ctrl-C
without a traceback (ended by SIGINT, as the shell and make expect of a command interrupted by Ctrl-C)."""

import os
import signal
import sys
from pathlib import Path

VENV_PYTHON = Path(__file__).resolve().parent / ".venv" / "bin" / "python"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qaforge.settings")
    try:
        from django.core.exceptions import ImproperlyConfigured
        from django.core.management import execute_from_command_line
    except ImportError:
        if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve():
            os.execv(VENV_PYTHON, [str(VENV_PYTHON), *sys.argv])  # the project's own environment
        sys.exit("manage.py: Django is not installed for this Python; run `make setup` (or `make run`) first.")
    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        sys.exit(f"manage.py: {error}")
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


if __name__ == "__main__":
    main()
