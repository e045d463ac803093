"""Documents: metadata, versions, visibility, content storage and encryption."""
