"""The mergekit backend (plan and run arrive with its issue)."""
