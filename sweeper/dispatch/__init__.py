"""Dispatch: the driver loop (base.py) and the backends that place trials (local.py, ray.py)."""
