"""`swisper-studio status` (not implemented yet)."""
