"""The merge backend: mergekit's methods driven by a MergeJob (CPU by default)."""
