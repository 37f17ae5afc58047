"""Issue 16.7: the README's two commands are the ones that exist, CI runs exactly the second, and the runtime
install leaves the test tools out."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_gives_two_commands_an_address_and_a_japanese_quick_start():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Start (two commands)"):readme.index("### クイックスタート")]
    assert "`bash run.sh`" in table and "`run.bat`" in table and "`bash test.sh`" in table
    assert "http://127.0.0.1:8501" in table
    quick = readme[readme.index("### クイックスタート"):]
    assert "bash run.sh" in quick and "run.bat" in quick and "http://127.0.0.1:8501" in quick


def test_ci_runs_exactly_the_second_command():
    lines = [ln for ln in (REPO / ".ci/run").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[-1] == "bash test.sh"


def test_runtime_install_leaves_out_the_test_tools():
    install = (REPO / "install.sh").read_text()
    runtime = [ln for ln in install.splitlines() if "requirements" in ln and "WITH_TESTS" not in ln]
    assert any("-r requirements.txt" in ln for ln in runtime) and not any("dev" in ln for ln in runtime)
    apt = next(ln for ln in install.splitlines() if ln.startswith("if ") and "apt-get" in ln)
    assert '"$WITH_TESTS" = 1' in apt                       # chromium only for the tests
    assert "bash install.sh --test" in (REPO / "test.sh").read_text()
    assert "requirements-dev" not in (REPO / "run.bat").read_text()
    for script in ("install.sh", "run.sh", "test.sh", ".ci/run"):
        subprocess.run(["bash", "-n", str(REPO / script)], check=True)


def test_run_sh_starts_offline_on_the_sample_data():
    run = (REPO / "run.sh").read_text()
    assert re.search(r'HF_HUB_OFFLINE="\$\{HF_HUB_OFFLINE:-1\}"', run)
    assert "scripts/first_run.py" in run and "streamlit run app.py" in run
    assert (REPO / "run.bat").read_bytes().count(b"\r\n") > 10      # Windows line ends
