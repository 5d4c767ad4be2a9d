"""`swisper-studio migrate` (not implemented yet)."""
