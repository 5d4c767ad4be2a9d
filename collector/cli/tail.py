"""`swisper-studio tail` (not implemented yet)."""
