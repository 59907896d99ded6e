# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR plan: one dictionary describing the application, checked and resolved.

`dr_plan` (docs/dr-plan.md) names the components, where backups go, the
sites, DNS records and services. The modules of this package, from the
bottom up:

- parts: the kinds, methods and parts of a plan, and reading them (durations,
  names, unknown keys, a component as a site sees it);
- graph: dependency cycles, restore batches and the steps restored at once;
- hooks, schedules: consistency hooks and schedules, checked, with defaults;
- sites: each site's repository, where its backups are copied, its warm
  standbys and where its rds components are restored from;
- validate: every problem of a plan at once (PlanError), and its warnings;
- resolve: the plan as one site sees it;
- secrets: secrets redacted from a resolved plan or given alone, and the
  undefined variables a run needs.

Callers import each name from the module that owns it.
"""
