"""The families' public search: the page and its live channel, the index, postcodes and places."""
