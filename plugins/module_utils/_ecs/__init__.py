# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amazon ECS: a service redeployed on a new task definition revision with rewritten environment and secrets.

Module ecs_redeploy: `taskdef` rewrites a task definition (pure, no API), `service` reads the service, registers
the revision, updates the service and waits for its steady state.
"""
