# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amazon ElastiCache (Redis OSS): snapshots, their copies, and new clusters restored from them.

Modules elasticache_backup and elasticache_restore.
"""
