"""Users: accounts, sign-in tokens, the permission rules and the user's scope."""
