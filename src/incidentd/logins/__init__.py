"""Who is logged in to the web app: passwords, one-time login links and server-side sessions."""
