"""Helpers that know no model: atomic writes, the cache folder and its locks, tensor checks, weight files,
precision facts of a device, and work sharing under ``torchrun``. Imports nothing else of the package."""
