"""The read model: the daily rollups, their visitor sketches and pre-merged blocks, dirty
days, and how fresh the rollups are."""
