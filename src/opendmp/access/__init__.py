"""Access: the one policy that decides who may do what."""
