"""tuneforge: fine-tune, quantize and merge LLMs on Kubernetes."""
