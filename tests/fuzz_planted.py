"""A planted bug for the campaign tests (tests/test_campaigns.py): a reference
whose storage garbles the last byte of every non-zero write of 100 bytes or more
inside the WAL region (not the header, and not the machine's own bytes after
the region, its canary, S9.12), so the side-by-side machine reports a region
divergence once an append writes a large entry. Header writes are left alone so
that the one failure every worker finds is that one, not open_older_file's F1.2
check meeting a garbled legacy header (CI, stop 22).
Not a test module: the campaign's worker processes import it by name."""

from __future__ import annotations

import model as m
from model.format import WAL_OFFSET
from reference import FileStorage
from reference.storage import Storage
from walcheck.sidebyside.machines import CANARY, build_machine, small_region_config


class GarblingStorage(FileStorage):
    def write_at(self, offset: int, data: bytes) -> None:
        if offset >= WAL_OFFSET and len(data) >= 100 and any(data) and data != CANARY:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        super().write_at(offset, data)


_Base = build_machine(small_region_config(m.Design.FIXED, "PlantedGarbledWriteFixed"))


class PlantedGarbledWriteFixed(_Base):  # type: ignore[misc, valid-type]
    def _new_storage(self) -> Storage:
        return GarblingStorage(self.path, create=True)
