"""The realtime plugin: WebSocket typing indicators, presence and messages."""
