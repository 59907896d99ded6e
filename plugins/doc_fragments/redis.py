# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options for connecting to a Redis server, as community.general.redis names them.

Matches connection_argument_spec() in plugins/module_utils/_redis/client.py.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or address of the Redis server.
    type: str
    default: localhost
  login_port:
    description:
      - TCP port of the Redis server.
    type: int
    default: 6379
  login_user:
    description:
      - ACL user to log in as (Redis 6 and newer). Without it the password is checked against C(requirepass)
        (the C(default) user).
    type: str
  login_password:
    description:
      - Password of O(login_user), or of the C(default) user.
    type: str
  tls:
    description:
      - Connect with TLS. O(validate_certs) also decides whether the server's certificate is checked.
    type: bool
    default: false
  ca_certs:
    description:
      - File of CA certificates to check the server's certificate against, when O(tls=true).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the connection to the server.
    type: int
    default: 10
requirements:
  - redis (the Python library, 4.0 or newer)
"""
