"""The operator's command line over the layer (``python -m funnel_ops``): migrations, the
retention purge and the rollups, outside the deployed layer. See :mod:`funnel_ops.cli`."""
