"""The `securemed` command and the recipes that compose every layer (the demo, the demo model).

The top of the import graph: it may import every package of ours, and nothing imports it.
Typed errors become exit codes here (`cli.main.run`) and nowhere else.
"""
