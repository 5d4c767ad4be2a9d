"""`swisper-studio project` (not implemented yet)."""
