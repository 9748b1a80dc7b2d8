"""The package's public names are exactly its sorted ``__all__``."""

import stackmeter


def test_all_is_sorted_and_importable():
    assert stackmeter.__all__ == sorted(stackmeter.__all__)
    for name in stackmeter.__all__:
        assert getattr(stackmeter, name) is not None
