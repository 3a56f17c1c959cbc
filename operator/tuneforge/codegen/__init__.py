"""Files generated from the API types: the CRDs (crds.py) and the API reference page (apidocs.py)."""
