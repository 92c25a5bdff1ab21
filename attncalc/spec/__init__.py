"""What a model or a machine is, and where it comes from (standard library only)."""
