"""Small shared pieces: ids, cursors, query parsing, time, wire decoding."""
