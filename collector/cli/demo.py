"""`swisper-studio demo` (not implemented yet)."""
