# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident mode of a security incident: more logging, logins refused, hosts quarantined, and the
closing run that puts everything back as recorded (record.py, postgres.py, redis.py, ec2.py, nftables.py)."""
