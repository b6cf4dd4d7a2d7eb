"""The cold chain: temperature uploads and their files, excursions, the vials they touch
and their closures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from traceability.storage.types import utc_field


class TemperatureUpload(SQLModel, table=True):
    """One logger file or EPCIS sensor document for a storage unit or a shipper. Append-only.

    Exactly one of `unit_id` and `shipper_id` is set. The readings themselves are not
    kept row by row: `sha256` names the exact bytes uploaded, and the log entry at
    `log_index` (`coldchain.readings.uploaded`) records the digest, count and span.
    """

    __tablename__ = "temperature_uploads"

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int | None = Field(default=None, foreign_key="storage_units.id", index=True)
    shipper_id: int | None = Field(default=None, foreign_key="shippers.id", index=True)
    source: str = Field(max_length=8)
    sha256: str = Field(max_length=64, index=True)
    readings: int
    first_at: datetime = utc_field()
    last_at: datetime = utc_field()
    uploaded_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()


class TemperatureFile(SQLModel, table=True):
    """The exact bytes of an uploaded logger file, kept as the original record. Append-only.

    Named by their SHA-256, which the upload's log entry records: a page that plots the
    readings checks the bytes against the proven entry first, so a changed file shows a
    finding, never a trace.
    """

    __tablename__ = "temperature_files"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = utc_field()


class Excursion(SQLModel, table=True):
    """A run of readings outside a unit's or shipper's limits that lasted too long.

    Append-only: it stays open until an `ExcursionClosure` row closes it. `end_at` is
    None when the data ended during the run; `limit` is the limit it breached, as text
    (e.g. "<= -150 °C"). `log_index` is the upload's entry, in which it was found.
    """

    __tablename__ = "excursions"

    id: int | None = Field(default=None, primary_key=True)
    upload_id: int = Field(foreign_key="temperature_uploads.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="storage_units.id", index=True)
    shipper_id: int | None = Field(default=None, foreign_key="shippers.id", index=True)
    kind: str = Field(max_length=8)
    start_at: datetime = utc_field()
    end_at: datetime | None = utc_field(nullable=True)
    peak_celsius: str = Field(max_length=16)
    limit: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()


class ExcursionVial(SQLModel, table=True):
    """A vial that was in the unit or shipper during an excursion, with its log entry.

    Append-only. `log_index` is that vial's `coldchain.excursion` entry.
    """

    __tablename__ = "excursion_vials"
    __table_args__ = (UniqueConstraint("excursion_id", "vial_id", name="uq_excursion_vial"),)

    id: int | None = Field(default=None, primary_key=True)
    excursion_id: int = Field(foreign_key="excursions.id", index=True)
    vial_id: int = Field(foreign_key="vials.id", index=True)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))


class ExcursionClosure(SQLModel, table=True):
    """QA's signed assessment that closes an excursion (once). Append-only."""

    __tablename__ = "excursion_closures"

    id: int | None = Field(default=None, primary_key=True)
    excursion_id: int = Field(foreign_key="excursions.id", unique=True)
    assessment: str = Field(max_length=4000)
    closed_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()
