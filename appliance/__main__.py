"""`python -m appliance` is the `securemed` command."""

from appliance.cli import main

main()
