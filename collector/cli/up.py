"""`swisper-studio up` (not implemented yet)."""
