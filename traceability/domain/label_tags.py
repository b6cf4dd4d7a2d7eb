"""Printed labels and their tags: what a scanned tag says, and a batch's reconciliation.

Plain rules. A label's tag (`&s=` in its QR) binds the printed label to its issue
entry in the custody log. A scanned tag is one of: the vial's current label (valid), a
label of this vial that a reissue voided, a label of another vial (a label stuck on the
wrong vial, or a copied one), or no label ever issued (a forged or mistyped one). A
batch's labels are reconciled when every vial has exactly one current label and every
voided label was replaced with a reason.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StrictStr

from traceability.domain.what import Refusal, Text2000, What

TAG_BYTES = 12
"""96 random bits: the design asks for at least 64; 16 base64url characters on the label."""


class TagVerdict(StrEnum):
    valid = "valid"
    voided = "voided"
    never_issued = "never issued"
    other_vial = "does not match this vial"
    absent = "no tag"
    other_custody = "in other custody"
    """Not about the label: a courier scanned a vial someone else holds."""


FLAGGED = frozenset({TagVerdict.voided, TagVerdict.never_issued, TagVerdict.other_vial})
"""Verdicts that are never silently accepted: the vial page warns and the scan is kept."""


def new_tag() -> str:
    return secrets.token_urlsafe(TAG_BYTES)


def tag_digest(tag: str) -> str:
    """What the log carries instead of the tag, so reading the log never yields valid labels."""
    return hashlib.sha256(tag.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class IssuedLabel:
    id: int
    vial_id: int
    replaces_id: int | None
    reason: str | None


def tag_verdict(
    tag: str | None, *, vial_id: int, label: IssuedLabel | None, voided: bool
) -> TagVerdict:
    """What a scanned tag says about the vial whose URI it came with.

    `label` is the issued label carrying that tag, if any; `voided` whether a later
    label replaced it.
    """
    if tag is None:
        return TagVerdict.absent
    if label is None:
        return TagVerdict.never_issued
    if label.vial_id != vial_id:
        return TagVerdict.other_vial
    return TagVerdict.voided if voided else TagVerdict.valid


@dataclass(frozen=True)
class Reconciliation:
    vials: int
    issued: int
    """Every label ever issued for the batch's vials, reprints included."""
    voided: int
    reprinted: int
    unlabelled: tuple[str, ...]
    """Serials of vials with no label yet."""
    first_scanned: int
    """Current labels scanned at least once."""
    unexplained_voids: int

    @property
    def reconciled(self) -> bool:
        current = self.issued - self.voided
        return not self.unlabelled and current == self.vials and not self.unexplained_voids


def reconcile(
    serials_by_vial: Mapping[int, str],
    labels: Sequence[IssuedLabel],
    scanned_label_ids: set[int],
) -> Reconciliation:
    replaced = {label.replaces_id for label in labels if label.replaces_id is not None}
    current = [label for label in labels if label.id not in replaced]
    labelled = {label.vial_id for label in current}
    by_id = {label.id: label for label in labels}
    unexplained = sum(
        1
        for label in labels
        if label.replaces_id is not None and (not label.reason or label.replaces_id not in by_id)
    )
    return Reconciliation(
        vials=len(serials_by_vial),
        issued=len(labels),
        voided=len(replaced),
        reprinted=sum(1 for label in labels if label.replaces_id is not None),
        unlabelled=tuple(
            serial for vial, serial in sorted(serials_by_vial.items()) if vial not in labelled
        ),
        first_scanned=sum(1 for label in current if label.id in scanned_label_ids),
        unexplained_voids=unexplained,
    )


def _distinct(serials: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(serials)) != len(serials):
        raise ValueError("not distinct")
    return serials


Serials = Annotated[
    tuple[Annotated[StrictStr, Field(min_length=1)], ...],
    Field(min_length=1),
    AfterValidator(_distinct),
    Refusal("serials is a list of distinct vial serials of this batch"),
]


class LabelRequest(What):
    """`labels.issued`: first labels for the given vials, or every unlabelled one."""

    serials: Serials | None = None


class ReissueRequest(What):
    """`labels.reissued`: new labels for these vials; their current labels become void."""

    serials: Serials
    reason: Annotated[Text2000, Refusal("a reissue needs its reason (1-2000 characters)")]
