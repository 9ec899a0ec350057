"""Shared pytest setup: a hypothesis profile without deadlines (CI machines are noisy), and opt-in slow tests."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings  # noqa: E402

settings.register_profile("numvae", deadline=None, max_examples=60, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "numvae"))


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true",
                     help="also run the tests marked slow (building and installing the wheel); .ci/run does")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow (builds the wheel and installs it in a fresh venv): run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
