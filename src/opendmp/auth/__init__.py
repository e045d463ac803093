"""Authentication: tokens today; patient logins, OpenID Connect and software clients later."""
