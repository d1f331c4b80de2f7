"""The organisers' report after a fair or over the campaign: `ocop-live report`.

Its figures come from the same store rows and the same payload builders the board uses
(``web.reader``, ``web.payload``); this package only arranges, draws and prints them.
"""
