"""The DMP itself: opening, closing, reopening, objection, deletion, suspension, minors, death."""
