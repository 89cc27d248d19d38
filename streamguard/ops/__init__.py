"""Operations support: stream sharding over replicas and the Grafana dashboard built from the metric names.

`streamguard.ops.sharding` has no dependencies beyond the package; `streamguard.ops.dashboard` needs the dev
extra ``grafana-foundation-sdk`` and is only run to regenerate ``deploy/grafana/streamguard.json``.
"""
