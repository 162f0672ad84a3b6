#!/usr/bin/env python3
"""Writes data/licenses.tsv: real English text, for the tokenizer comparison in docs/data-formats.md.

Each line of seven license texts that Debian's base-files package installs on every system
(/usr/share/common-licenses) with at least four words, once, labelled with its license (lines found in several
licenses are left out): tsv_classify, "which license is this line from". Nothing is downloaded. Run again only to regenerate the file:
./scripts/make_license_data.py
"""
from pathlib import Path

SOURCE = Path("/usr/share/common-licenses")
LICENSES = ["Apache-2.0", "Artistic", "CC0-1.0", "GFDL-1.3", "GPL-3", "LGPL-2.1", "MPL-2.0"]
OUT = Path(__file__).resolve().parent.parent / "data" / "licenses.tsv"

texts, licenses_of = [], {}
for name in LICENSES:
    for line in (SOURCE / name).read_text(encoding="utf-8").splitlines():
        text = " ".join(line.split())
        if len(text.split()) >= 4:
            if text not in licenses_of:
                texts.append(text)
            licenses_of.setdefault(text, set()).add(name)
# A line found in several licenses has no one answer, and a repeated line would sit in more than one split.
lines = [f"{t}\t{next(iter(licenses_of[t]))}" for t in texts if len(licenses_of[t]) == 1]
OUT.write_text("".join(l + "\n" for l in lines), encoding="utf-8")
print(f"{OUT}: {len(lines)} lines from {len(LICENSES)} licenses in {SOURCE}")
