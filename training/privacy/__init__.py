"""Private training: individualized DP-SGD with per-class budgets, one ledger per run (issue 12).

`accounting` computes each privacy class's sample rate with Opacus' accountant, `ledger` counts
every private step and writes privacy.json, `dpsgd` trains a torch model under both. Nothing here
is imported by the appliance.
"""
