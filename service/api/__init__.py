"""HTTP blueprints, one per audience: kiosks (``/api/v1``), the PMS (``/pms/v1``), health."""
