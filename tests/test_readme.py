"""The README's Python example runs as written."""

import re
from pathlib import Path


def test_readme_python_example_runs():
    text = (Path(__file__).parent.parent / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)      # the project's own README, not user input
    assert namespace["fp2"].phase == "chaotic"
    assert str(namespace["cp"].sigma_w2).startswith("1.76095463960673")
    assert str(namespace["laws"].q_map.expr) == "101*q*sigma_w2/200 + sigma_b2"
