# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amazon RDS snapshots, their retention and age, and restores.

Modules rds_snapshot, rds_snapshot_prune, rds_backup_info, rds_backup_replication and rds_restore.
"""
