"""The README and .ci/run agree, and the README's quickstart uses commands that exist."""

import re
import shlex

from .conftest import REPO


def quickstart() -> list[str]:
    """Command lines of the README's first code block (comments dropped)."""
    block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_quickstart_is_install_plus_main_job_then_tests():
    install, tests = quickstart()
    steps = [step.strip() for step in install.split("&&")]
    assert steps[0] == "pip install torch==2.13.0", "torch must be pinned first so pip takes the CPU wheel"
    assert steps[1] == 'pip install -e ".[dev]"'
    assert shlex.split(steps[2])[0] == "prefbuild"
    assert tests == "python -m pytest -q"


def test_ci_runs_the_readme_install_and_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    install, tests = quickstart()
    assert "pip install -q torch==2.13.0" in ci and 'pip install -q -e ".[dev]"' in ci
    assert ci.rstrip().splitlines()[-1] == tests


def test_quickstart_main_job_is_a_real_verb(run_cli):
    install, _ = quickstart()
    verb = shlex.split(install.split("&&")[2])[1]
    code, out, _ = run_cli(verb, "--help")
    assert code == 0 and out
