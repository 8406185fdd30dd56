"""The year rules: school years and phases, holds, teacher attachments (R10), late entries (R12)."""
