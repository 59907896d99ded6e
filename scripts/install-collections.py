#!/usr/bin/env python
"""Make the collections this repository needs resolvable without Galaxy.

ansible.cfg points `collections_path` at `.collections/`. This fills it with:

* `resilience/dr`: a symbolic link to the repository itself, so playbooks and
  tests always run the working tree;
* the collections named below, extracted from the `ansible` community package
  on PyPI (Galaxy may be unreachable; PyPI carries the same released content).

Idempotent: a collection whose MANIFEST.json already names the wanted version
is left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

# The community package release that carries the collection versions below.
ANSIBLE_PACKAGE = "ansible==12.3.0"
COLLECTIONS = {
    "amazon.aws": "10.1.2",
    "awx.awx": "24.6.1",
    "community.aws": "10.0.0",
    "community.general": "11.4.2",
}


def installed_version(target: Path) -> str | None:
    manifest = target / "MANIFEST.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text())["collection_info"]["version"]


def download_wheel(cache: Path, pip: list[str]) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    name = ANSIBLE_PACKAGE.replace("==", "-")
    existing = sorted(cache.glob(f"{name}-*.whl"))
    if existing:
        return existing[-1]
    subprocess.run([*pip, "download", "--quiet", "--no-deps", "--dest", str(cache), ANSIBLE_PACKAGE], check=True)
    found = sorted(cache.glob(f"{name}-*.whl"))
    if not found:
        sys.exit(f"pip download of {ANSIBLE_PACKAGE} produced no wheel in {cache}")
    return found[-1]


def extract(wheel: Path, fqcn: str, root: Path) -> None:
    namespace, name = fqcn.split(".")
    prefix = f"ansible_collections/{namespace}/{name}/"
    target = root / namespace / name
    staging = root / namespace / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.infolist() if m.filename.startswith(prefix) and not m.is_dir()]
        if not members:
            sys.exit(f"{wheel.name} does not contain {fqcn}")
        for member in members:
            relative = Path(member.filename[len(prefix):])
            if relative.is_absolute() or ".." in relative.parts:
                sys.exit(f"refusing unsafe path {member.filename} in {wheel.name}")
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(".collections/ansible_collections"))
    parser.add_argument("--cache", type=Path, default=Path(".cache/wheels"))
    parser.add_argument("--pip", default=f"{sys.executable} -m pip", help="pip command used to download the package")
    args = parser.parse_args()

    repository = Path(__file__).resolve().parent.parent
    root = args.root.resolve()
    (root / "resilience").mkdir(parents=True, exist_ok=True)
    link = root / "resilience" / "dr"
    if not (link.is_symlink() and link.resolve() == repository):
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.exists():
            shutil.rmtree(link)
        link.symlink_to(repository, target_is_directory=True)

    wanted = {fqcn: version for fqcn, version in COLLECTIONS.items()
              if installed_version(root.joinpath(*fqcn.split("."))) != version}
    if wanted:
        wheel = download_wheel(args.cache.resolve(), args.pip.split())
        for fqcn in wanted:
            extract(wheel, fqcn, root)
    for fqcn, version in COLLECTIONS.items():
        print(f"collection {fqcn} {version}: {'installed' if fqcn in wanted else 'present'}")
    print(f"collection resilience.dr: linked to {repository}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
