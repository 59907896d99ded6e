# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the PostgreSQL modules, as community.postgresql names them.

Each fragment matches one function of plugins/module_utils/_postgres/connection.py.
"""

from __future__ import annotations


class ModuleDocFragment:
    # How to reach the server: postgres_connection_argument_spec().
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or address of the PostgreSQL server. Empty (the default) connects over the Unix socket
        (O(login_unix_socket), or libpq's default directory).
    type: str
    default: ''
  login_port:
    description:
      - Port of the PostgreSQL server.
    type: int
    default: 5432
  login_user:
    description:
      - Role to connect as. Backups of every table and of the roles' passwords need a superuser (or a member
        of C(pg_read_all_data)); restores need a role that may create databases.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). It reaches libpq and the client programs through the environment
        (C(PGPASSWORD)), never through their command line, and never appears in results or logs.
    type: str
    default: ''
  login_unix_socket:
    description:
      - Directory of the server's Unix socket, used instead of O(login_host).
    type: str
    default: ''
  ssl_mode:
    description:
      - libpq's C(sslmode) for TCP connections.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate that signs the server's certificate (C(sslrootcert)), for O(ssl_mode=verify-ca) and
        O(ssl_mode=verify-full).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for a connection before failing with a message naming the server.
    type: int
    default: 10
requirements:
  - psycopg2 (or psycopg2-binary) on the host that runs the module
"""

    # Where the client programs are and where they may write: postgres_tools_argument_spec().
    TOOLS = r"""
options:
  pg_bin_dir:
    description:
      - Directory holding C(pg_dump), C(pg_dumpall), C(pg_restore) of a major version not older than the
        server (Debian C(/usr/lib/postgresql/15/bin)). The default finds them on E(PATH).
    type: path
  temp_dir:
    description:
      - Directory for the temporary dump files (see the module's notes for how much space they need).
        The default is the system's temporary directory (E(TMPDIR), else C(/tmp)).
    type: path
"""
