"""The code of README.md runs as written."""

import os
import re

from conftest import run_python

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_api_tour_runs(backend, tmp_path):
    with open(README) as file:
        tour = "\n".join(re.findall(r"```python\n(.*?)```", file.read(), re.S))
    code = f"import os; os.chdir({str(tmp_path)!r})\n" + tour + "\nprint(net.backend, same.backend)"
    result = run_python("-c", code, FASTBP_BACKEND=backend)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [backend, backend]
    assert os.path.exists(tmp_path / "xor.npz")
