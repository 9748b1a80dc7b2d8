"""Each package's public names are exactly its sorted ``__all__`` (httpx's ``test_exported_members``)."""

import types

import pytest

import stackmeter
import stackmeter.models
import stackmeter.operations

PACKAGES = [stackmeter, stackmeter.models, stackmeter.operations]


def public_names(module: types.ModuleType) -> list[str]:
    """Return the names ``module`` binds without a leading ``_``, less submodules and ``__future__`` flags."""
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and type(value).__module__ != "__future__"
    )


def test_all_is_sorted_and_importable():
    assert stackmeter.__all__ == sorted(stackmeter.__all__)
    for name in stackmeter.__all__:
        assert getattr(stackmeter, name) is not None


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_all_is_the_sorted_public_names(package):
    assert package.__all__ == public_names(package)
