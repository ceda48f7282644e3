"""Clean Pixel Data: burned-in text found by OCR and blacked out in the stored pixels."""
