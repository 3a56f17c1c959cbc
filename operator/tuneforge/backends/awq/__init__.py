"""The awq backend (plan and run arrive with its issue)."""
