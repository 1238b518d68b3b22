"""The discharge coordinators' live board: page and namespace, fan-out, wire format, CSV downloads."""
