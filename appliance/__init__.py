"""SecureMed Edge appliance: configuration, pipeline, stages and the `securemed` command."""
