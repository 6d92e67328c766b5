"""Packaging for the ``rq`` distribution."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def read_version() -> str:
    """Read ``VERSION`` from rq/version.py without importing the package."""
    text = (HERE / "rq" / "version.py").read_text(encoding="utf-8")
    match = re.search(r"""^VERSION\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    if match is None:
        raise RuntimeError("rq/version.py does not define VERSION = '...'")
    return match.group(1)


METRICS_REQUIRES = ["prometheus_client>=0.17"]
TEST_REQUIRES = [
    "pytest>=8",
    "pytest-timeout",
    "psutil",
    "sentry-sdk>=1.40",
    "hypothesis",
    "cryptography",
    "fakeredis[lua]>=2.20",
    *METRICS_REQUIRES,
]
DOCS_REQUIRES = ["mkdocs-material>=9"]
# Where the repository lives. Its public address appears nowhere in the project yet (the
# docs write it as <repo-url>): this is a placeholder in a reserved, never-resolving
# domain; set it when the repository is published and every Project-URL follows.
REPO_URL = "https://example.invalid/rq-resilient"

setup(
    name="rq",
    version=read_version(),
    description=(
        "Drop-in RQ 2.x: simple job queues for Python backed by Redis, with workers that ride through Redis outages"
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author="The RQ (resilient) contributors",
    project_urls={
        "Documentation": f"{REPO_URL}/blob/main/docs/index.md",
        "Changelog": f"{REPO_URL}/blob/main/CHANGES.md",
        "Source": REPO_URL,
        "Issues": f"{REPO_URL}/issues",
    },
    # Written as License-Expression (PEP 639); needs setuptools 77.0.3+ (pyproject.toml).
    license_expression="BSD-2-Clause",
    license_files=["LICENSE"],
    packages=find_packages(include=["rq", "rq.*"]),
    package_data={"rq": ["py.typed"]},
    zip_safe=False,
    python_requires=">=3.9",
    install_requires=["redis>=5.0", "click>=8.0"],
    extras_require={
        "sentry": ["sentry-sdk>=1.40"],
        "metrics": METRICS_REQUIRES,
        "test": TEST_REQUIRES,
        "docs": DOCS_REQUIRES,
        "dev": [*TEST_REQUIRES, *DOCS_REQUIRES, "ruff", "mypy"],
    },
    entry_points={
        "console_scripts": [
            "rq=rq.cli:main",
            "rqworker=rq.cli:worker",
            "rqinfo=rq.cli:info",
        ],
    },
    classifiers=[
        "Development Status :: 4 - Beta",
        "Intended Audience :: Developers",
        "Operating System :: POSIX",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: System :: Distributed Computing",
        "Typing :: Typed",
    ],
)
