"""The server-rendered portal (French first). The foundation serves its home page."""
