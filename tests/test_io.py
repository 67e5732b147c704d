"""Atomic writes: the complete new file or the old one, with the permissions a plain write gives."""

import os
import stat

import pytest

from xmer.io import atomic_path, atomic_write_json, atomic_write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"accuracy": 0.5})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == '{\n  "accuracy": 0.5\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    atomic_write_text(tmp_path / "report.md", "# report\n")
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o666 & ~umask  # 0o644 under the usual umask 022
