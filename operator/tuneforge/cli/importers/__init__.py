"""`tuneforge import`: a peer's training config (Axolotl, LLaMA-Factory) as a FineTuneJob."""
