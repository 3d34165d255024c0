"""gate_barcode: QR and barcodes read from camera frames; signed passes verified offline."""
