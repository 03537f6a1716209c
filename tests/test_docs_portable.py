"""The documents a student or instructor follows work on Windows too: every command they show is
a `course.py` command (which runs the same everywhere), and POSIX-only shell (`.venv/bin/...`,
`export`, `$PWD`) appears only in a code block clearly marked for Linux/macOS."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_student  # noqa: E402

POSIX_ONLY = {
    ".venv/bin/": r"\.venv/bin/",
    "export VAR=": r"(^|[\s`])export\s+[A-Za-z_]\w*=",
    "$PWD / $OLDPWD": r"\$(OLD)?PWD\b",
    "source / . activate": r"(^|[\s`])(source|\.)\s+\S*activate",
    "$(command)": r"\$\([a-z]",
}
MARK = re.compile(r"linux|macos", re.I)


def posix_only_outside_marked_blocks(text: str) -> list[str]:
    """Lines with POSIX-only shell that are not inside a code block introduced as Linux/macOS
    (the last non-blank line before the block's fence, or the fence's own line, says so)."""
    problems = []
    lines = text.splitlines()
    in_block, block_marked = False, False
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            if not in_block:
                before = next((l for l in reversed(lines[:number - 1]) if l.strip()), "")
                block_marked = bool(MARK.search(before) or MARK.search(line))
            in_block = not in_block
            continue
        if in_block and block_marked:
            continue
        for name, pattern in POSIX_ONLY.items():
            if re.search(pattern, line):
                problems.append(f"line {number}: {name}: {line.strip()}")
    return problems


DOCUMENTS = {
    "README.md": (ROOT / "README.md").read_text(encoding="utf-8"),
    "INSTRUCTORS.md": (ROOT / "INSTRUCTORS.md").read_text(encoding="utf-8"),
    "student/README.md": make_student.STUDENT_README.format(out_name="student"),
    "site/landing_extra.md": (ROOT / "site" / "landing_extra.md").read_text(encoding="utf-8"),
}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_no_posix_only_command_outside_a_linux_macos_block(name):
    assert posix_only_outside_marked_blocks(DOCUMENTS[name]) == []


def test_the_check_finds_what_it_must():
    text = ("Run:\n\n```bash\n.venv/bin/python x.py\n```\n\nthen `export A=1` and\n"
            "Linux/macOS:\n\n```bash\nexport B=2\nPATH=\"$PWD/.venv/bin:$PATH\"\n```\n")
    problems = posix_only_outside_marked_blocks(text)
    assert [p.split(":")[0] for p in problems] == ["line 4", "line 7"]


@pytest.mark.parametrize("name", ["README.md", "INSTRUCTORS.md", "student/README.md"])
def test_course_py_is_shown_before_make(name):
    text = DOCUMENTS[name]
    assert "course.py" in text
    for target in ("lab", "test", "student", "site"):
        make_at = text.find(f"make {target}")
        if make_at >= 0:
            assert 0 <= text.find("course.py") < make_at, f"{name}: `make {target}` comes first"


def test_every_course_py_command_the_documents_show_exists():
    sys.path.insert(0, str(ROOT))
    import course

    shown = set()
    for text in DOCUMENTS.values():
        shown |= set(re.findall(r"(?:python3?(?:\.\d+)?|py -3\.\d+)\s+course\.py\s+(?:--venv \S+\s+)?([a-z][\w-]*)", text))
    assert shown, "the documents show no course.py command"
    assert shown <= set(course.COMMANDS), f"not a course.py command: {shown - set(course.COMMANDS)}"


def test_no_internal_notes_in_what_readers_read():
    for name, text in DOCUMENTS.items():
        for pattern in (r"\bissue \d+", r"this round", r"six developers", r"\bhelpers? (?:of|on) the"):
            assert not re.search(pattern, text, re.I), f"{name}: {pattern}"
