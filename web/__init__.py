"""Read side: the venue board, host pages and their APIs over websockets and HTTP."""
