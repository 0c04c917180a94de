"""Files the settings tests configure with: a config file, and a secrets directory."""

from __future__ import annotations

from pathlib import Path


def write_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def make_secrets(tmp_path: Path, **files: str) -> Path:
    """A secrets directory with one file per keyword, each ending in a newline as editors do."""
    directory = tmp_path / "secrets"
    directory.mkdir(exist_ok=True)
    for name, value in files.items():
        (directory / name).write_text(value + "\n", encoding="utf-8")
    return directory
