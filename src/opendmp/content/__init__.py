"""The patient's own content (expression libre: blood group, allergies, people to notify,
treatments, notes), advance directives, and the vaccination record with the French schedule."""
