"""Label making: GS1 Digital Link payloads, QR matrices, vector PDF labels and ZPL.

Standalone: never imports `traceability`. The service calls it to print labels.
"""
