"""Prints algobench's pinned requirements from pyproject.toml, one a line: the dependencies and
every optional extra, as `pip install -e ".[all]"` in scripts/setup.sh installs them.

The image build installs these before it copies the source, so that a change to the source does
not reinstall the environment. Usage: python3 requirements.py PYPROJECT_TOML
"""

from __future__ import annotations

import sys
import tomllib

SELF = "algobench["


def extra_requirements(extras: dict[str, list[str]], name: str) -> list[str]:
    """The requirements of one extra, with references to algobench's own extras expanded."""
    requirements = []
    for requirement in extras[name]:
        if requirement.startswith(SELF):
            for inner in requirement[len(SELF):].rstrip("]").split(","):
                requirements += extra_requirements(extras, inner.strip())
        else:
            requirements.append(requirement)
    return requirements


def main(path: str) -> None:
    with open(path, "rb") as f:
        project = tomllib.load(f)["project"]
    requirements = list(project["dependencies"])
    extras = project.get("optional-dependencies", {})
    for name in extras:
        requirements += extra_requirements(extras, name)
    print("\n".join(dict.fromkeys(requirements)))  # each once, in first-seen order


if __name__ == "__main__":
    main(sys.argv[1])
