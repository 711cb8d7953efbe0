"""The edge of Sipingtai: the HTTP/WebSocket API and the command line."""
