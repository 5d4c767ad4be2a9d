"""`swisper-studio collector` (not implemented yet)."""
