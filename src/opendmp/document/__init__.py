"""Documents of a record: metadata, encrypted content, keys and blobs."""
