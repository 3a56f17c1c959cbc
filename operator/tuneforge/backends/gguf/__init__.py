"""The gguf backend (plan and run arrive with its issue)."""
