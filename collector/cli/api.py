"""`swisper-studio api` (not implemented yet)."""
