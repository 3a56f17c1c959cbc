"""What several backends share: dataset rows (rows.py), file names (naming.py), and the quantizers'
scratch folder, model check and calibration/evaluation split (quantize.py). Nothing here imports a
heavy library at module level; no backend imports another backend."""
