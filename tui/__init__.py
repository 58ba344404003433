"""The terminal UI (Textual). It talks to the engine through launcher's public API only."""
