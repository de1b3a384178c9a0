"""Programs the privatepypi.aws.pypiserver role runs on a host (installed as they are)."""
