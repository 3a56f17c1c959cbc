"""The exl2 backend (plan and run arrive with its issue)."""
