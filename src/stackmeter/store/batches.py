"""A batch before it is written: text made UTF-8, the store's last check, duplicates across its parts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stackmeter.models import Parsed, Rejection, Samples, invalid_samples, take_samples, utf8_text


def with_utf8_text(part: Parsed) -> Parsed:
    """Return ``part`` with its origin, entities and rejections made valid UTF-8 (sample entity
    names are cleaned where the store names its entities)."""
    return part._replace(
        origin=utf8_text(part.origin),
        entities=tuple(
            entity._replace(
                **{key: utf8_text(value) for key, value in entity._asdict().items() if value is not None}
            )
            for entity in part.entities
        ),
        rejections=tuple(
            rejection._replace(
                path=utf8_text(rejection.path),
                field=None if rejection.field is None else utf8_text(rejection.field),
                detail=utf8_text(rejection.detail),
            )
            for rejection in part.rejections
        ),
    )


def refuse_invalid(
    samples: Samples,
    part_index: np.ndarray,
    resource_codes: np.ndarray,
    bound: np.ndarray,
    parts: list[Parsed],
) -> tuple[Samples, np.ndarray, np.ndarray, list[Rejection]]:
    """Drop the samples the store refuses (see :func:`~stackmeter.models.invalid_samples`): the
    store's own last check, so that nothing outside the time domain, non-finite or implausible
    enters it whatever the caller. Returns what is left, and a rejection per sample dropped."""
    ts_ns = samples.ts.view(np.int64)
    bad, reasons = invalid_samples(ts_ns, bound, samples.used, samples.capacity)
    if not bad.size:
        return samples, part_index, resource_codes, []
    refused = [
        Rejection(
            parts[part_index[i]].origin,
            None,
            utf8_text(str(samples.resource[i])),
            reason,
            f"{utf8_text(str(samples.entity[i]))} at {ts_ns[i] / 1e9:.0f} s since 1970: "
            f"used {samples.used[i]:g}, capacity {samples.capacity[i]:g}",
        )
        for i, reason in zip(bad, reasons, strict=True)
    ]
    keep = np.ones(samples.size, dtype=bool)
    keep[bad] = False
    return take_samples(samples, keep), part_index[keep], resource_codes[keep], refused


def entities_overlap(parts: list[Parsed]) -> bool:
    """Whether two parts hold samples of the same entity in overlapping time ranges."""
    spans: dict = {}
    for part in parts:
        if not part.samples.size:
            continue
        first, last = part.samples.ts.min(), part.samples.ts.max()
        names = [entity.entity for entity in part.entities] or pd.unique(part.samples.entity)
        for name in names:
            for other_first, other_last in spans.get(name, ()):
                if first <= other_last and other_first <= last:
                    return True
            spans.setdefault(name, []).append((first, last))
    return False


def first_of_duplicates(samples: Samples) -> tuple[Samples, int, np.ndarray]:
    keys = pd.DataFrame({"e": samples.entity, "r": samples.resource, "ts": samples.ts})
    keep = ~keys.duplicated().to_numpy()
    return Samples(*(column[keep] for column in samples)), int((~keep).sum()), keep
