"""The Agent Client Protocol bridge: `agent-hub acp`."""
