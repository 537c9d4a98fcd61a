"""The package's layers (setup.cfg's import-linter contracts): each layer imports only the layers below it, no
import cycles; and the contracts fail on an import that breaks them."""
import shutil
import subprocess
import sys
from pathlib import Path

import brian2_delgrad

ROOT = Path(__file__).resolve().parent.parent


def _lint(root):
    """Run lint-imports on the package under ``root`` with the checkout's contracts: (exit code, output)."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    done = subprocess.run([sys.executable, "-c", code, "--no-cache", str(ROOT / "setup.cfg")], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": ""}, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def test_each_layer_imports_only_the_layers_below_it_and_nothing_imports_in_a_circle():
    package = Path(brian2_delgrad.__file__).parent
    assert package.parent == ROOT, "run the tests from the checkout"
    code, output = _lint(ROOT)
    assert code == 0 and "Contracts: 2 kept, 0 broken." in output, output


def test_an_upward_import_or_a_cycle_breaks_the_contracts(tmp_path):
    """A copy of the package where the core imports the experiments, and a utility imports the core."""
    copy = tmp_path / "brian2_delgrad"
    shutil.copytree(Path(brian2_delgrad.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "core" / "network.py", "a") as file:
        file.write("\nfrom ..experiments import tables  # noqa\n")
    with open(copy / "utils" / "checks.py", "a") as file:
        file.write("\nfrom ..core import network  # noqa\n")
    code, output = _lint(tmp_path)
    assert code == 1 and "Contracts: 0 kept, 2 broken." in output, output
    assert "brian2_delgrad.core.network -> brian2_delgrad.experiments.tables" in output, output
