"""Who may do what: users and roles (roles.py), sign-in with lockout (lockout.py, forms.py,
views.py), the first admin and password resets (passwords.py), API tokens and the audit log
of settings changes (models.py, audit.py)."""
